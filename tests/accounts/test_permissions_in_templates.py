"""Templates ask the permission map (the `can` filter), never a role name."""

import pytest
from django.urls import reverse

from accounts.permissions import PERMISSIONS, Action, Role
from tests.factories import DepartmentFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db


def billing_link() -> str:
    return f'href="{reverse("billing:billing")}"'


@pytest.mark.parametrize("role", list(Role))
def test_the_billing_link_shows_exactly_to_the_roles_that_may_view_billing(
    owner, member, client_of, role
):
    actor = owner if role == Role.OWNER else member(role)
    page = client_of(actor).get("/").content.decode()
    assert (billing_link() in page) is (role in PERMISSIONS[Action.VIEW_BILLING])


def test_a_user_of_no_organization_sees_no_billing_link(client_of):
    response = client_of(VerifiedUserFactory()).get("/")
    assert response.status_code == 200
    assert billing_link() not in response.content.decode()


def test_the_quota_list_offers_what_the_member_may_do(owner, member, client_of):
    new_quota = f'href="{reverse("billing:quota-new")}"'
    webhooks = f'href="{reverse("notifications:webhooks")}"'
    manager = member(Role.VIEWER)
    DepartmentFactory(organization=owner.organization).managers.add(manager.user)
    shown = {
        who: client_of(membership).get(reverse("billing:quotas")).content.decode()
        for who, membership in [("owner", owner), ("viewer", member(Role.VIEWER)),
                                ("manager", manager)]
    }  # fmt: skip
    assert new_quota in shown["owner"] and webhooks in shown["owner"]
    assert new_quota not in shown["viewer"] and webhooks not in shown["viewer"]
    assert new_quota in shown["manager"] and webhooks not in shown["manager"]
