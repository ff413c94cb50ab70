"""The overview, the page after sign-in: how much the organization has spent, how much is
left and what needs attention, each figure in the member's scope (docs/permissions.md):
usage and quotas in the departments the member may view usage of, the balance only for
roles that may view billing.

A bounded number of queries whatever the volume: usage comes from metering.selectors
(rollups plus the not-yet-rolled tail), the checklist is one query of EXISTS subqueries.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from accounts.permissions import Action, can
from billing.invoicing.services import BillingSummary, billing_summary
from billing.metering.models import UsageEvent, UsageRollup
from billing.metering.selectors import (
    TOKENS,
    Selection,
    floor_bucket,
    linear_forecast,
    next_bucket,
    top_usage,
    usage_rows,
)
from billing.quotas.models import Quota, QuotaAlert
from billing.quotas.selectors import with_usage
from notifications.models import Notification
from portal.periods import add_months, month_start
from projects.models import ApiKey, Project

TOP = 5  # rows of each list on the overview


@dataclass
class Step:
    """One item of the getting-started checklist."""

    label: str
    done: bool
    url: str = ""  # where to do it, when the member may


@dataclass
class Overview:
    now: datetime
    month_start: datetime
    billing: BillingSummary | None  # None for roles that may not view billing
    spend: dict  # currency -> Decimal, this month so far, in the member's scope
    spend_last_month_to_date: dict  # the same days of last month
    forecast: dict  # currency -> Decimal, this month (metering.selectors.linear_forecast)
    tokens: int
    cap: Quota | None  # the organization's monthly money quota, with its usage
    cap_forecast: Decimal | None  # the cap's consumption at month end at today's rate
    chart: dict  # json_script data of static/billing/overview-chart.js
    quotas: list  # the quotas closest to their limit, with their usage
    alerts: list  # recent QuotaAlerts
    notifications: list  # the newest unread Notifications (their count: the bell's)
    top_models: list  # metering.selectors.top_usage rows
    top_projects: list  # the same, with "name"
    key_project: Project | None  # where "Create API key" leads
    checklist: list[Step] = field(default_factory=list)  # empty once every step is done

    @property
    def credit_used(self) -> Decimal | None:
        """Postpaid: the part of the credit limit taken (unpaid invoices and this month)."""
        if self.billing is None:
            return None
        return self.billing.credit_limit_amount - self.billing.spendable_amount


def overview(membership, *, now: datetime) -> Overview:
    organization = membership.organization
    start = floor_bucket(now, "1mo")
    end = next_bucket(start, "1mo")
    daily = _spend_by_day(membership, start, now)
    spend, before, tokens = daily.pop("spend"), daily.pop("before"), daily.pop("tokens")
    quotas = with_usage(
        list(
            Quota.objects.for_member(membership, Action.VIEW_USAGE).select_related(
                "department", "project", "api_key", "organization"
            )
        )
    )
    cap = next((q for q in quotas if _is_monthly_cap(q)), None)
    cap_forecast = None
    if cap is not None and cap.current is not None:
        consumed = {"cap": cap.current.consumed_amount}
        cap_forecast = linear_forecast(consumed, start, end, now)["cap"]
    unread = Notification.objects.for_org(organization).filter(
        user=membership.user, read_at__isnull=True
    )
    top_projects = top_usage(membership, start, end, "project_id", limit=TOP)
    names = dict(
        Project.objects.for_org(organization)
        .filter(public_id__in=[row["id"] for row in top_projects])
        .values_list("public_id", "name")
    )
    for row in top_projects:
        row["name"] = names.get(row["id"]) or _("No project")
    return Overview(
        now=now,
        month_start=start,
        billing=(
            billing_summary(organization, now=now) if can(membership, Action.VIEW_BILLING) else None
        ),
        spend=spend,
        spend_last_month_to_date=before,
        forecast=linear_forecast(spend, start, end, now),
        tokens=tokens,
        cap=cap,
        cap_forecast=cap_forecast,
        chart=daily,
        quotas=sorted(
            (q for q in quotas if q.current is not None),
            key=lambda q: q.percent,
            reverse=True,
        )[:TOP],
        alerts=list(
            QuotaAlert.objects.for_member(membership, Action.VIEW_USAGE).select_related(
                "quota_period__quota__department",
                "quota_period__quota__project",
                "quota_period__quota__api_key",
                "quota_period__quota__organization",
            )[:TOP]
        ),
        notifications=list(unread[:TOP]),
        top_models=top_usage(membership, start, end, "model", limit=TOP),
        top_projects=top_projects,
        key_project=(
            Project.objects.for_member(membership, Action.MANAGE_KEYS)
            .filter(status=Project.Status.ACTIVE)
            .order_by("created_at")
            .first()
        ),
        checklist=getting_started(membership),
    )


def _is_monthly_cap(quota: Quota) -> bool:
    return (
        quota.scope == Quota.Scope.ORGANIZATION
        and quota.metric == Quota.Metric.MONEY
        and quota.period == Quota.Period.MONTH
    )


def _spend_by_day(membership, start: datetime, now: datetime) -> dict:
    """This month's and last month's cost per day in the organization's currency (the
    chart), with this month's spend and tokens so far and the same days of last month.

    One usage read over both months; other currencies count in the totals only."""
    currency = membership.organization.currency
    last_start = month_start(add_months(start.date(), -1))
    rows = usage_rows(membership, Selection(last_start, now, "1d", [], {}, by_currency=True))
    last_days = (start - last_start).days
    this_days = (next_bucket(start, "1mo") - start).days
    today = (now.astimezone(start.tzinfo) - start).days  # 0 on the first
    this_month = [0.0] * (today + 1)
    last_month = [0.0] * last_days
    spend: dict = {}
    before: dict = {}
    tokens = 0
    for row in rows:
        day = row["bucket"]
        amount = row["cost_amount"]
        if day >= start:
            spend[row["currency"]] = spend.get(row["currency"], Decimal(0)) + amount
            tokens += sum(row[t] for t in TOKENS)
            index, line = (day - start).days, this_month
        else:
            index, line = (day - last_start).days, last_month
            if index <= today:
                before[row["currency"]] = before.get(row["currency"], Decimal(0)) + amount
        if row["currency"] == currency and 0 <= index < len(line):
            line[index] += float(amount)  # the chart only; the figures stay Decimal
    return {
        "currency": currency,
        "days": list(range(1, max(this_days, last_days) + 1)),
        "this_month": this_month,
        "last_month": last_month,
        "labels": {"this_month": str(_("This month")), "last_month": str(_("Last month"))},
        "spend": spend,
        "before": before,
        "tokens": tokens,
    }


def getting_started(membership) -> list[Step]:
    """The first steps of a new organization, each read from real data (one query); empty
    once all are done."""
    organization = membership.organization
    of_org = {"organization": OuterRef("pk")}
    facts = (
        Organization.objects.filter(pk=organization.pk)
        .annotate(
            verified=Exists(EmailAddress.objects.filter(user=membership.user, verified=True)),
            project=Exists(Project.objects.filter(**of_org)),
            key=Exists(ApiKey.objects.filter(project__organization=OuterRef("pk"))),
            called=Exists(UsageRollup.objects.filter(**of_org))
            | Exists(UsageEvent.objects.filter(**of_org)),
            quota=Exists(Quota.objects.filter(**of_org)),
        )
        .values("verified", "project", "key", "called", "quota")
        .get()
    )
    approved = organization.status == Organization.Status.ACTIVE

    def link(action, name, *args):
        return reverse(name, args=args) if can(membership, action) else ""

    key_url = link(Action.MANAGE_KEYS, "projects:list")
    steps = [
        Step(_("Verify your email address"), facts["verified"], reverse("account_email")),
        Step(_("Get the organization approved"), approved),
        Step(
            _("Create a project"), facts["project"], link(Action.MANAGE_PROJECTS, "projects:create")
        ),
        Step(_("Create an API key"), facts["key"], key_url),
        Step(_("Make the first call"), facts["called"], key_url),
        Step(_("Set a quota"), facts["quota"], link(Action.MANAGE_QUOTAS, "billing:quota-new")),
    ]
    return [] if all(step.done for step in steps) else steps
