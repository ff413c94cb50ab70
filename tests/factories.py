"""factory_boy factories shared by every test folder."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone
from stdnum.cn import uscc

from accounts.models import Department, Invitation, Membership, Organization, User
from accounts.permissions import Role
from billing.catalog.models import CatalogModel, PriceVersion, Provider


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
