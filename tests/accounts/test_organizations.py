import pytest

from accounts.models import AuditEvent, Membership, Organization
from accounts.permissions import Role
from tests.factories import MembershipFactory, OrganizationFactory, VerifiedUserFactory, make_uscc

pytestmark = pytest.mark.django_db

VALID = {
    "kind": "enterprise",
    "name": "Acme",
    "legal_name": "上海阿克米科技有限公司",
    "uscc": make_uscc(424242).lower(),
    "contact_name": "李雷",
    "contact_phone": "+86 21 5555 1234",
    "address": "上海市黄浦区南京东路1号",
    "billing_email": "finance@acme.example",
}


@pytest.fixture
def newcomer(client_of):
    user = VerifiedUserFactory()
    return user, client_of(user)


def test_a_newcomer_is_led_to_create_an_organization(newcomer):
    _, client = newcomer
    response = client.get("/")
    assert b'href="/organization/new/"' in response.content
    # Any organization page sends them home to do so.
    response = client.get("/organization/members/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_it_creates_a_pending_organization_owned_by_its_creator(newcomer):
    user, client = newcomer
    response = client.post("/organization/new/", VALID)
    assert response.status_code == 302
    organization = Organization.objects.get()
    assert organization.status == Organization.Status.PENDING
    assert organization.uscc == VALID["uscc"].upper()
    assert Membership.objects.get(organization=organization).user == user
    assert Membership.objects.get(organization=organization).role == Role.OWNER
    event = AuditEvent.objects.get(action="organization.created")
    assert (event.organization, event.actor, event.target_id) == (
        organization,
        user,
        organization.public_id,
    )
    home = client.get("/")
    assert "Pending review" in home.content.decode()
    assert "gateway refuses your API keys" in home.content.decode()


def test_an_invalid_uscc_is_a_field_error(newcomer):
    _, client = newcomer
    response = client.post("/organization/new/", {**VALID, "uscc": VALID["uscc"][:-1] + "0"})
    assert response.status_code == 200
    assert "uscc" in response.context["form"].errors
    assert not Organization.objects.exists()


def test_a_uscc_is_unique_across_the_platform(newcomer):
    _, client = newcomer
    OrganizationFactory(uscc=VALID["uscc"].upper())
    response = client.post("/organization/new/", VALID)
    assert response.status_code == 200
    assert response.context["form"].errors["uscc"] == [
        "An organization with this code is already registered."
    ]
    assert Organization.objects.count() == 1


def test_a_suspended_organization_shows_why(owner, client_of):
    Organization.objects.filter(pk=owner.organization_id).update(
        status=Organization.Status.SUSPENDED, status_note="Unpaid invoices."
    )
    page = client_of(owner).get("/").content.decode()
    assert "Suspended" in page and "Unpaid invoices." in page


def test_an_owner_edits_the_settings_and_the_change_is_audited(owner, client_of):
    org = owner.organization
    data = {
        "name": "Renamed",
        "legal_name": org.legal_name,
        "contact_name": org.contact_name,
        "contact_phone": org.contact_phone,
        "address": org.address,
        "billing_email": org.billing_email,
        "require_mfa": "on",
        # Staff-only fields are not part of the form: sending them changes nothing.
        "payment_mode": "postpaid",
        "credit_limit_amount": "99999",
        "status": "active",
    }
    response = client_of(owner).post("/organization/settings/", data)
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.require_mfa) == ("Renamed", True)
    assert org.payment_mode == Organization.PaymentMode.PREPAID
    assert org.credit_limit_amount == 0
    event = AuditEvent.objects.get(action="organization.updated")
    assert event.changes["after"] == {"name": "Renamed", "require_mfa": True}
    assert event.changes["before"]["require_mfa"] is False


def test_the_settings_page_shows_staff_fields_read_only(owner, client_of):
    page = client_of(owner).get("/organization/settings/").content.decode()
    assert "Credit limit" in page
    assert 'name="credit_limit_amount"' not in page and 'name="payment_mode"' not in page


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_other_roles_may_not_edit_settings(member, client_of, role):
    assert client_of(member(role)).get("/organization/settings/").status_code == 403


def test_a_user_switches_between_organizations(owner, client_of):
    second = MembershipFactory(user=owner.user, role=Role.VIEWER)
    client = client_of(owner)
    assert client.get("/").context["membership"].organization == owner.organization
    page = client.get("/organization/switch/").content.decode()
    assert second.organization.name in page and owner.organization.name in page
    response = client.post("/organization/switch/", {"organization": second.organization.public_id})
    assert response.status_code == 302
    assert client.get("/").context["membership"] == second
    assert client.get("/organization/settings/").status_code == 403  # a viewer there


def test_a_user_cannot_switch_to_an_organization_they_are_not_in(owner, outsider, client_of):
    client = client_of(owner)
    response = client.post(
        "/organization/switch/", {"organization": outsider.organization.public_id}
    )
    assert response.status_code == 200 and response.context["form"].errors
    assert client.get("/").context["membership"] == owner


def test_the_api_acts_for_the_organization_named_in_the_header(owner, client_of):
    second = MembershipFactory(user=owner.user, role=Role.VIEWER)
    client = client_of(owner)
    assert client.get("/api/v1/organization/").json()["id"] == owner.organization.public_id
    response = client.get(
        "/api/v1/organization/", headers={"x-organization": second.organization.public_id}
    )
    assert response.json()["id"] == second.organization.public_id
    response = client.patch(
        "/api/v1/organization/",
        {"name": "x"},
        content_type="application/json",
        headers={"x-organization": second.organization.public_id},
    )
    assert response.status_code == 403  # a viewer in the organization the header names


def test_a_header_naming_another_organization_is_a_404(owner, outsider, client_of):
    client = client_of(owner)
    for path in ("/api/v1/organization/", "/api/v1/members/", "/api/v1/departments/"):
        response = client.get(path, headers={"x-organization": outsider.organization.public_id})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_the_api_updates_customer_fields_only(owner, client_of):
    response = client_of(owner).patch(
        "/api/v1/organization/",
        {"contact_phone": "+86 10 1234 5678", "credit_limit_amount": "5000", "uscc": "x"},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["contact_phone"] == "+86 10 1234 5678"
    assert body["credit_limit_amount"] == "0.00"
    assert body["uscc"] == owner.organization.uscc


def test_the_api_answers_bad_input_with_field_errors(owner, client_of):
    response = client_of(owner).patch(
        "/api/v1/organization/", {"billing_email": "nope"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "billing_email" in response.json()["error"]["fields"]
