"""factory_boy factories shared by every test folder, one per model the tests build, and
`as_actor()`, the Actor service calls take.

Factories write rows directly: no permission check, no audit event. Build what a test is
about through the service it tests, and its surroundings with these.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone
from stdnum.cn import uscc

from accounts.audit_trail import Actor
from accounts.models import Department, Invitation, Membership, Organization, User
from accounts.permissions import Role
from billing.catalog.models import (
    CatalogModel,
    ContractDiscount,
    ModelAlias,
    PriceVersion,
    Provider,
)
from billing.invoicing.models import Invoice, LedgerEntry
from billing.metering.models import UsageEvent, UsageRollup
from billing.quotas.models import Quota, QuotaAlert, QuotaPeriod
from projects.models import ApiKey, GatewayCredential, Project
from relay.models import Channel


def make_uscc(n: int) -> str:
    body = f"91110000{n:09d}"
    return body + uscc.calc_check_digit(body)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.django.Password("correct horse battery")


class VerifiedUserFactory(UserFactory):
    """A user whose email address is verified (allauth), as after sign-up."""

    class Meta:
        skip_postgeneration_save = True

    @factory.post_generation
    def verified_email(user, create, extracted, **kwargs):
        if create:
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    kind = Organization.Kind.ENTERPRISE
    name = factory.Sequence(lambda n: f"Org {n}")
    legal_name = factory.LazyAttribute(lambda o: f"{o.name} 有限公司")
    uscc = factory.Sequence(make_uscc)
    contact_name = "王芳"
    contact_phone = "+86 21 5555 0000"
    address = "上海市浦东新区世纪大道100号"
    billing_email = factory.Sequence(lambda n: f"finance{n}@example.com")
    status = Organization.Status.ACTIVE


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Department {n}")
    code = factory.Sequence(lambda n: f"D{n:03d}")


def department_tree(organization) -> dict:
    """ROOT > (A > A1), B: the tree the permission and quota tests reason about, by code."""
    root = DepartmentFactory(organization=organization, code="ROOT")
    a = DepartmentFactory(organization=organization, code="A", parent=root)
    a1 = DepartmentFactory(organization=organization, code="A1", parent=a)
    b = DepartmentFactory(organization=organization, code="B", parent=root)
    return {d.code: d for d in (root, a, a1, b)}


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.DEVELOPER


class InvitationFactory(factory.django.DjangoModelFactory):
    """Pass `token="..."` to know the link: /organization/join/<token>/."""

    class Meta:
        model = Invitation
        exclude = ("token",)

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.DEVELOPER
    created_by = factory.SubFactory(UserFactory)
    token = factory.Sequence(lambda n: f"invitation-token-{n}")
    token_digest = factory.LazyAttribute(lambda o: Invitation.digest(o.token))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"provider-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.title())
    region = Provider.Region.CHINA


class CatalogModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogModel
        django_get_or_create = ("model_id",)

    model_id = factory.Sequence(lambda n: f"model-{n}")
    provider = factory.SubFactory(ProviderFactory)
    display_name = factory.LazyAttribute(lambda m: m.model_id.title())
    context_window = 128_000


class PriceVersionFactory(factory.django.DjangoModelFactory):
    """Prices per million tokens, in CNY."""

    class Meta:
        model = PriceVersion

    model = factory.SubFactory(CatalogModelFactory)
    effective_from = factory.LazyFunction(lambda: datetime(2026, 1, 1, tzinfo=UTC))
    input_price = Decimal("2.00000000")
    output_price = Decimal("8.00000000")
    cached_input_price = Decimal("0.50000000")


class ModelAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAlias
        django_get_or_create = ("alias",)

    alias = factory.Sequence(lambda n: f"alias-{n}")
    model = factory.SubFactory(CatalogModelFactory)


class ContractDiscountFactory(factory.django.DjangoModelFactory):
    """An organization's discount on every model (pass `provider` or `model` to narrow it)."""

    class Meta:
        model = ContractDiscount

    organization = factory.SubFactory(OrganizationFactory)
    percent = Decimal(10)
    valid_from = date(2026, 1, 1)


# --- Projects, keys and gateway credentials ------------------------------------------------


def as_actor(who: Membership | User) -> Actor:
    """The Actor services take: a member acting in the portal, or a user acting as themselves
    (staff in the admin, someone signing up or accepting an invitation)."""
    if isinstance(who, User):
        return Actor(user=who)
    return Actor(user=who.user, membership=who)


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project of `department`'s organization, or of a new one without a department."""

    class Meta:
        model = Project

    department = None
    organization = factory.LazyAttribute(
        lambda p: p.department.organization if p.department else OrganizationFactory()
    )
    name = factory.Sequence(lambda n: f"Project {n}")


class HashedSecretFactory(factory.django.DjangoModelFactory):
    """A token made as the services make it (a fresh secret; only its digest is stored). The
    plaintext, which the services return once, is the object's `plaintext` attribute."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        obj = model_class(*args, **kwargs)
        obj.plaintext = obj.set_new_secret()
        obj.save()
        return obj


class ApiKeyFactory(HashedSecretFactory):
    class Meta:
        model = ApiKey

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"key {n}")


class GatewayCredentialFactory(HashedSecretFactory):
    class Meta:
        model = GatewayCredential

    name = factory.Sequence(lambda n: f"gateway-{n}")


# --- Usage, quotas, the ledger and invoices ------------------------------------------------


class UsageEventFactory(factory.django.DjangoModelFactory):
    """A usage event as ingestion stores it: organization, department and project are the
    key's; the price is the model's latest."""

    class Meta:
        model = UsageEvent

    request_id = factory.LazyFunction(lambda: f"req-{uuid.uuid4().hex}")
    api_key = factory.SubFactory(ApiKeyFactory)
    project = factory.SelfAttribute("api_key.project")
    organization = factory.SelfAttribute("project.organization")
    department = factory.SelfAttribute("project.department")
    model = factory.SubFactory(CatalogModelFactory)
    price_version = factory.LazyAttribute(
        lambda e: e.model.prices.first() or PriceVersionFactory(model=e.model)
    )
    input_tokens = 1000
    cost_amount = Decimal("0.01")
    currency = "CNY"
    occurred_at = factory.LazyFunction(timezone.now)


class UsageRollupFactory(factory.django.DjangoModelFactory):
    """One hour of one key's usage of one model, as the rollup writes it."""

    class Meta:
        model = UsageRollup

    hour = factory.LazyFunction(lambda: timezone.now().replace(minute=0, second=0, microsecond=0))
    api_key = factory.SubFactory(ApiKeyFactory)
    project = factory.SelfAttribute("api_key.project")
    organization = factory.SelfAttribute("project.organization")
    department = factory.SelfAttribute("project.department")
    model = factory.SubFactory(CatalogModelFactory)
    requests = 1
    input_tokens = 1000
    output_tokens = 500
    cost_amount = Decimal("1.00")
    currency = "CNY"


class QuotaFactory(factory.django.DjangoModelFactory):
    """A monthly token quota on the whole organization."""

    class Meta:
        model = Quota

    organization = factory.SubFactory(OrganizationFactory)
    scope = Quota.Scope.ORGANIZATION
    metric = Quota.Metric.TOKENS
    period = Quota.Period.MONTH
    limit = Decimal(1000)


class QuotaPeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuotaPeriod

    quota = factory.SubFactory(QuotaFactory)
    period_start = factory.LazyFunction(timezone.now)
    period_end = factory.LazyFunction(timezone.now)


class QuotaAlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuotaAlert

    quota_period = factory.SubFactory(QuotaPeriodFactory)
    threshold = 50
    consumed = Decimal(500)


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    """A top-up (pass `kind` for another entry); each entry moves the running balance."""

    class Meta:
        model = LedgerEntry

    organization = factory.SubFactory(OrganizationFactory)
    kind = LedgerEntry.Kind.TOP_UP
    amount = Decimal(1000)
    currency = "CNY"


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A monthly invoice (a draft unless `status` says otherwise: an issued one gets a number
    and an issue time); VAT at 6 % of `subtotal_amount`."""

    class Meta:
        model = Invoice

    organization = factory.SubFactory(OrganizationFactory)
    status = Invoice.Status.DRAFT
    period_start = date(2026, 10, 1)
    period_end = factory.LazyAttribute(lambda i: _next_month(i.period_start))
    number = factory.LazyAttributeSequence(
        lambda i, n: None if i.status == Invoice.Status.DRAFT else f"TP-{i.period_start:%Y}-{n:06d}"
    )
    issued_at = factory.LazyAttribute(
        lambda i: None if i.status == Invoice.Status.DRAFT else timezone.now()
    )
    currency = "CNY"
    subtotal_amount = Decimal(0)
    tax_rate = Decimal("0.06")
    tax_amount = factory.LazyAttribute(lambda i: round(Decimal(i.subtotal_amount) * i.tax_rate, 2))
    total_amount = factory.LazyAttribute(lambda i: Decimal(i.subtotal_amount) + i.tax_amount)


# --- The relay ------------------------------------------------------------------------------


class ChannelFactory(factory.django.DjangoModelFactory):
    """An upstream channel without a credential or models."""

    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"channel-{n}")
    base_url = factory.LazyAttribute(lambda c: f"http://127.0.0.1:9/{c.name}/v1")
