"""factory_boy factories shared by every test folder."""

import factory
from stdnum.cn import uscc

from accounts.models import Department, Membership, Organization, User
from accounts.permissions import Role


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


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.DEVELOPER
