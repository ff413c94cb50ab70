"""Demo data for `make run`: a living portal, not an empty one.

One organization (Demo Tech) with a department tree, members of every role, projects and API
keys, hourly usage of real catalog models from the first day of last month (business time
zone) up to the last full hour, fed through the real ingestion service and rolled up;
quotas near their thresholds (so the bell has alerts; in a month's first hours, before any
usage of the month, sized from last month instead), last month's invoice issued, and a
prepaid balance that covers it all. Plus a staff user and the imported model catalog.

Idempotent and fast on a re-run: what exists is kept; usage continues from the last
seeded hour (request ids are derived from key, model and hour, so an hour is ingested once).
The numbers come from a fixed seed. Never run it against production.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Min, Sum
from django.utils import timezone

from accounts import services as accounts_services
from accounts.audit_trail import Actor
from accounts.models import Department, Membership, Organization, User
from accounts.permissions import Role
from billing.catalog.models import CatalogModel, PriceVersion
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, LedgerEntry
from billing.metering import services as metering
from billing.metering.models import UsageEvent
from billing.quotas import services as quotas
from billing.quotas.models import Quota, QuotaPeriod
from portal.periods import add_months, business_zone, local_midnight, month_of, month_start
from projects import services as projects_services
from projects.models import ApiKey, Project

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed to the developer on purpose
DEMO_OWNER = "owner@demo.example"
DEMO_STAFF = "staff@demo.example"
# (email, name, role, home department code, manages that department)
DEMO_MEMBERS = [
    ("admin@demo.example", "李娜 (Admin)", Role.ADMIN, None, False),
    ("dev@demo.example", "王强 (Developer)", Role.DEVELOPER, "NLP", True),
    ("finance@demo.example", "陈静 (Billing)", Role.BILLING, "FIN", False),
    ("viewer@demo.example", "赵敏 (Viewer)", Role.VIEWER, None, False),
]
DEMO_FILED_MODELS = [
    "deepseek/deepseek-chat",
    "deepseek/deepseek-reasoner",
    "moonshotai/kimi-k2",
    "qwen/qwen-max",
    "qwen/qwen-plus",
    "zhipuai/GLM-4-Plus",
    "minimax/MiniMax-M2",
]
# (code, name, parent code): a small tree under the head office.
DEPARTMENTS = [
    ("HQ", "总部 Head office", None),
    ("RND", "Research", "HQ"),
    ("NLP", "NLP lab", "RND"),
    ("OPS", "客服中心 Customer service", "HQ"),
    ("FIN", "Finance", "HQ"),
]
# (project, department code, key names, [(model id, scale of its hourly tokens)]).
# Models missing from the catalog are skipped.
PROJECTS = [
    (
        "智能客服 Customer assistant",
        "OPS",
        ["production", "staging"],
        [("deepseek/deepseek-chat", 6.0), ("qwen/qwen-plus", 3.0)],
    ),
    (
        "Document search",
        "NLP",
        ["production"],
        [("qwen/qwen-max", 2.0), ("moonshotai/kimi-k2", 1.5)],
    ),
    (
        "Code review bot",
        "RND",
        ["ci"],
        [("anthropic/claude-sonnet-4", 1.0), ("openai/gpt-4o", 0.8)],
    ),
    ("Invoice OCR", "FIN", ["batch"], [("openai/gpt-4o-mini", 2.5)]),
]
SEED = 2026
HOUR = timedelta(hours=1)
# Share of a busy hour's traffic by hour of day (business time zone).
DAY_SHAPE = [0.05, 0.03, 0.02, 0.02, 0.03, 0.05, 0.1, 0.25, 0.6, 0.9, 1.0, 0.95,
             0.7, 0.85, 1.0, 0.95, 0.85, 0.6, 0.35, 0.3, 0.25, 0.2, 0.12, 0.08]  # fmt: skip
QUOTA_SHARE = Decimal("0.85")  # the customer service quota is this full (customer_service_limit)
TOP_UPS = [("DEMO-TOPUP-1", Decimal(20000)), ("DEMO-TOPUP-2", Decimal(15000))]


@dataclass(frozen=True)
class Stream:
    """One key calling one model: one usage event per active hour."""

    name: str  # project / key / model: seeds its numbers, the same in every database
    key: ApiKey
    model: CatalogModel
    scale: float
    department_code: str


class Command(BaseCommand):
    help = "Load a demo organization with usage, quotas and an invoice (development only)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with DJANGO_ENV=production.")
        # A full shelf first: the catalog from genai-prices (idempotent). On a fresh database
        # its prices start on the first day of last month, so that the demo usage is priced.
        first = add_months(month_of(timezone.now()), -1)
        fresh = {} if PriceVersion.objects.exists() else {"effective_from": f"{first:%Y-%m-%d}"}
        call_command("import_catalog", stdout=self.stdout, **fresh)
        CatalogModel.objects.filter(model_id__in=DEMO_FILED_MODELS).update(is_filed=True)
        self.shown_token = None
        with transaction.atomic():
            owner = self._user(DEMO_OWNER, "Demo Owner")
            self._user(DEMO_STAFF, "Demo Staff", is_staff=True, is_superuser=True)
            organization = self._organization()
            membership = self._member(organization, owner, Role.OWNER, None)
            actor = Actor(user=owner, membership=membership)
            departments = self._departments(actor)
            Membership.objects.filter(pk=membership.pk, department=None).update(
                department=departments["HQ"]
            )
            for email, name, role, code, manages in DEMO_MEMBERS:
                department = departments[code] if code else None
                self._member(organization, self._user(email, name), role, department)
                if manages:
                    department.managers.add(User.objects.get(email=email))
            streams = self._projects(actor, departments)
            self._top_ups(actor)
        started = timezone.now()
        added = self._usage(actor, streams, departments)
        invoice = self._invoice(organization)
        self._report(organization, added, invoice, timezone.now() - started)

    # --- people and structure --------------------------------------------------------

    def _user(self, email, full_name, **flags):
        user, created = User.objects.get_or_create(
            email=email, defaults={"full_name": full_name, **flags}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        return user

    def _organization(self):
        organization, _ = Organization.objects.get_or_create(
            uscc="91110000600037341L",
            defaults={
                "kind": Organization.Kind.ENTERPRISE,
                "name": "Demo Tech",
                "legal_name": "示例科技有限公司",
                "contact_name": "张伟",
                "contact_phone": "+86 10 5555 0100",
                "address": "北京市海淀区中关村大街1号",
                "billing_email": "finance@demo.example",
                "status": Organization.Status.ACTIVE,
            },
        )
        return organization

    def _member(self, organization, user, role, department):
        membership, _ = Membership.objects.get_or_create(
            organization=organization, user=user, defaults={"role": role, "department": department}
        )
        return membership

    def _departments(self, actor) -> dict[str, Department]:
        found = {d.code: d for d in Department.objects.for_org(actor.organization)}
        for code, name, parent in DEPARTMENTS:
            if code not in found:
                found[code] = accounts_services.create_department(
                    actor=actor, name=name, code=code, parent=found.get(parent)
                )
        return found

    def _projects(self, actor, departments) -> list[Stream]:
        models = CatalogModel.objects.in_bulk(
            [model_id for *_, uses in PROJECTS for model_id, _ in uses], field_name="model_id"
        )
        streams = []
        for name, code, key_names, uses in PROJECTS:
            project = Project.objects.for_org(actor.organization).filter(name=name).first()
            if project is None:
                project = projects_services.create_project(
                    actor=actor, name=name, department=departments[code]
                )
            for key_name in key_names:
                key = ApiKey.objects.filter(project=project, name=key_name).first()
                if key is None:
                    key, token = projects_services.create_api_key(
                        actor=actor, project=project, name=key_name
                    )
                    self.shown_token = self.shown_token or (key, token)
                # Staging keys see a tenth of production's traffic.
                share = 0.1 if key_name == "staging" else 1.0
                streams += [
                    Stream(f"{name}/{key_name}/{m}", key, models[m], scale * share, code)
                    for m, scale in uses
                    if m in models
                ]
        return streams

    def _top_ups(self, actor):
        """Prepaid: bank transfers that cover the demo's usage with room to spare."""
        organization = actor.organization
        LedgerEntry.objects.get_or_create(
            organization=organization,
            kind=LedgerEntry.Kind.TOP_UP,
            reference="DEMO-OPENING-BALANCE",
            defaults={"amount": 1000, "currency": organization.currency},
        )
        for reference, amount in TOP_UPS:
            exists = LedgerEntry.objects.for_org(organization).filter(reference=reference)
            if not exists.exists():
                ledger.record_top_up(
                    actor=actor, organization=organization, amount=amount, reference=reference
                )

    # --- usage -------------------------------------------------------------------------

    def _usage(self, actor, streams, departments) -> int:
        """Hourly events from the first day of last month (or after the last seeded hour)
        to the last full hour, ingested day by day as a gateway would have reported them."""
        organization = actor.organization
        now = timezone.now()
        end = now.replace(minute=0, second=0, microsecond=0)
        this_month = month_start(month_of(now))
        first = local_midnight(add_months(month_of(now), -1))
        last = (
            UsageEvent.objects.for_org(organization)
            .filter(request_id__startswith="demo:")
            .order_by("-occurred_at")
            .values_list("occurred_at", flat=True)
            .first()
        )
        # Not before the demo models have prices (a database seeded by an older version).
        priced = PriceVersion.objects.filter(model__in={s.model for s in streams})
        firsts = priced.values("model").annotate(first=Min("effective_from"))
        priced_from = max(firsts.values_list("first", flat=True), default=end)
        start = max(first, _next_hour(priced_from), last + timedelta(hours=1) if last else first)
        hours = [start + n * HOUR for n in range(int((end - start) / HOUR))]
        events = [event for hour in hours for event in _events_of_hour(streams, hour)]
        added = 0
        for day_start in range(0, len(hours), 24):
            if hours[day_start] >= this_month:
                # The quotas came this month: last month's usage was before them.
                self._quotas(actor, departments, events, this_month)
            day_end = hours[min(day_start + 23, len(hours) - 1)]
            batch = [e for e in events if hours[day_start] <= e["at"] < day_end + HOUR]
            if batch:
                reported = min(day_end + HOUR + timedelta(minutes=1), now)
                result = metering.ingest_usage(
                    events=[_gateway_event(e) for e in batch], now=reported
                )
                added += result.accepted
        self._quotas(actor, departments, events, this_month)
        metering.roll_up()
        periods = QuotaPeriod.objects.filter(quota__organization=organization)
        quotas.evaluate_alerts(list(periods.values_list("pk", flat=True)))
        return added

    def _quotas(self, actor, departments, events, this_month):
        """Customer service: a monthly token quota ~85 % used (the 80 % alert fires);
        the organization: a monthly spending cap a quarter above last month's costs."""
        organization = actor.organization
        if Quota.objects.for_org(organization).exists():
            return
        quotas.create_quota(
            actor=actor,
            scope=Quota.Scope.DEPARTMENT,
            target=departments["OPS"],
            metric=Quota.Metric.TOKENS,
            period=Quota.Period.MONTH,
            limit=customer_service_limit(events, this_month),
        )
        last_month = UsageEvent.objects.for_org(organization).filter(
            occurred_at__lt=this_month, occurred_at__gte=this_month - timedelta(days=31)
        )
        spent = last_month.aggregate(total=Sum("cost_amount"))["total"] or Decimal(0)
        quotas.create_quota(
            actor=actor,
            scope=Quota.Scope.ORGANIZATION,
            metric=Quota.Metric.MONEY,
            period=Quota.Period.MONTH,
            limit=_round_up(spent * Decimal("1.25")) or Decimal(5000),
        )

    # --- billing and report ------------------------------------------------------------

    def _invoice(self, organization) -> Invoice | None:
        """Last month's invoice, closed and issued by the billing services (numbered, frozen)."""
        month = add_months(month_of(timezone.now()), -1)
        draft = invoicing.close_month_for(organization=organization, month=month)
        if draft is not None:
            invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
        return Invoice.objects.for_org(organization).filter(period_start=month).first()

    def _report(self, organization, added, invoice, took):
        events = UsageEvent.objects.for_org(organization).count()
        self.stdout.write(
            f"Demo organization {organization.name}: {events} usage events "
            f"({added} added in {took.total_seconds():.1f} s), balance "
            f"{ledger.balance(organization):.2f} {organization.currency}"
            + (f", invoice {invoice.number} ({invoice.get_status_display()})" if invoice else "")
        )
        if self.shown_token:
            key, token = self.shown_token
            self.stdout.write(
                f"Demo API key '{key.name}' of '{key.project.name}' (shown once, "
                f"not stored): {token}"
            )
        logins = ", ".join(email for email, *_ in DEMO_MEMBERS)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: {DEMO_OWNER} / {DEMO_PASSWORD} (customer owner), "
                f"{DEMO_STAFF} / {DEMO_PASSWORD} (staff); "
                f"also {logins} with the same password"
            )
        )


def customer_service_limit(events: list[dict], this_month: datetime) -> Decimal:
    """The customer service quota's monthly token limit: this month's usage so far is
    QUOTA_SHARE of it (the 80 % alert fires). In a month's first hours, before any of its
    usage, there is nothing to be 85 % of: a month like the last one (its usage, rounded up),
    so that the quota is not spent on the first day by a made-up limit."""

    def tokens(wanted) -> int:
        return sum(
            e["input_tokens"] + e["output_tokens"] + e["cached_input_tokens"]
            for e in events
            if e["stream"].department_code == "OPS" and wanted(e["at"])
        )

    if this := tokens(lambda at: at >= this_month):
        return _round_up(Decimal(this) / QUOTA_SHARE)
    return _round_up(Decimal(tokens(lambda at: at < this_month))) or Decimal(10_000_000)


def _events_of_hour(streams: list[Stream], hour: datetime) -> list[dict]:
    """The hour's events: the same numbers for the same stream and hour on every run."""
    local = hour.astimezone(business_zone())
    weekend = local.weekday() >= 5
    shape = DAY_SHAPE[local.hour] * (0.3 if weekend else 1.0)
    events = []
    for stream in streams:
        rng = random.Random(f"{SEED}:{stream.name}:{hour:%Y%m%d%H}")
        if rng.random() > shape:
            continue
        requests = max(1, int(rng.gauss(40, 12) * stream.scale * shape))
        input_tokens = requests * int(rng.uniform(800, 2400))
        events.append(
            {
                "stream": stream,
                "at": hour + timedelta(minutes=rng.randrange(60)),
                "request_id": f"demo:{stream.key.public_id}:{stream.model.pk}:{hour:%Y%m%d%H}",
                "input_tokens": input_tokens,
                "output_tokens": requests * int(rng.uniform(150, 700)),
                "cached_input_tokens": int(input_tokens * rng.uniform(0, 0.3)),
            }
        )
    return events


def _gateway_event(event: dict) -> dict:
    """What a gateway reports for an aggregated hour of one key and model."""
    return {
        "request_id": event["request_id"],
        "key_id": event["stream"].key.public_id,
        "model": event["stream"].model.model_id,
        "input_tokens": event["input_tokens"],
        "output_tokens": event["output_tokens"],
        "cached_input_tokens": event["cached_input_tokens"],
        "occurred_at": event["at"].isoformat(),
    }


def _next_hour(at: datetime) -> datetime:
    hour = at.replace(minute=0, second=0, microsecond=0)
    return hour if hour == at else hour + timedelta(hours=1)


def _round_up(amount: Decimal) -> Decimal:
    """Up to three significant digits (1,234,567 -> 1,240,000): a limit a person would set."""
    if amount <= 0:
        return Decimal(0)
    step = Decimal(10) ** (int(math.log10(amount)) - 2)
    return (amount / step).to_integral_value(rounding="ROUND_CEILING") * step
