import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accounts.models import AuditEvent, Organization
from accounts.permissions import Role
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/organization/"


@pytest.fixture
def staff(client, staff_user):
    """A client signed in as staff with TOTP, as the console requires."""
    return client


def run_action(staff, action, organizations, note=None):
    data = {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in organizations]}
    if note is not None:
        data.update(apply="1", note=note)
    return staff.post(CHANGELIST, data)


def test_the_changelist_filters_and_searches(staff):
    OrganizationFactory(name="Pending Co", status=Organization.Status.PENDING)
    OrganizationFactory(name="Active Co")
    response = staff.get(CHANGELIST, {"status__exact": "pending"})
    assert [o.name for o in response.context["cl"].result_list] == ["Pending Co"]
    response = staff.get(CHANGELIST, {"q": "Active"})
    assert [o.name for o in response.context["cl"].result_list] == ["Active Co"]


def test_approving_asks_for_a_note_then_notifies_the_owners_and_audits(
    staff, member, org, mailoutbox, django_capture_on_commit_callbacks
):
    Organization.objects.filter(pk=org.pk).update(status=Organization.Status.PENDING)
    owner, second_owner = member(Role.OWNER), member(Role.OWNER)
    member(Role.ADMIN)
    page = run_action(staff, "approve", [org])
    assert page.status_code == 200 and b'name="note"' in page.content
    org.refresh_from_db()
    assert org.status == Organization.Status.PENDING  # nothing happens before the note

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(staff, "approve", [org], note="Licence checked.")
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.status, org.status_note) == (Organization.Status.ACTIVE, "Licence checked.")
    assert org.status_changed_at is not None
    (message,) = mailoutbox
    assert sorted(message.to) == sorted([owner.user.email, second_owner.user.email])
    assert "approved" in message.subject and "Licence checked." in message.body
    assert "Licence checked." in message.alternatives[0][0]
    event = AuditEvent.objects.get(action="organization.active")
    assert event.organization == org and event.actor.is_staff
    assert event.changes["after"] == {"status": "active", "status_note": "Licence checked."}


def test_suspending_needs_a_reason(staff, org):
    response = run_action(staff, "suspend", [org], note="")
    assert response.status_code == 200 and response.context["form"].errors
    org.refresh_from_db()
    assert org.status == Organization.Status.ACTIVE


def test_suspending_sets_the_status_and_reason(
    staff, owner, django_capture_on_commit_callbacks, mailoutbox
):
    org = owner.organization
    with django_capture_on_commit_callbacks(execute=True):
        run_action(staff, "suspend", [org], note="Unpaid invoices.")
    org.refresh_from_db()
    assert (org.status, org.status_note) == (Organization.Status.SUSPENDED, "Unpaid invoices.")
    assert "suspended" in mailoutbox[0].subject
    assert AuditEvent.objects.filter(action="organization.suspended", organization=org).exists()


def test_staff_set_the_credit_limit_and_it_is_audited(staff, org):
    response = staff.get(f"{CHANGELIST}{org.pk}/change/")
    form = response.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(payment_mode="postpaid", credit_limit_amount="50000.00", require_mfa="")
    response = staff.post(f"{CHANGELIST}{org.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    org.refresh_from_db()
    assert (org.payment_mode, str(org.credit_limit_amount)) == ("postpaid", "50000.00")
    event = AuditEvent.objects.get(action="organization.updated")
    assert event.changes["after"] == {"payment_mode": "postpaid", "credit_limit_amount": "50000.00"}


def test_status_is_not_editable_in_the_change_form(staff, org):
    form = staff.get(f"{CHANGELIST}{org.pk}/change/").context["adminform"].form
    assert "status" not in form.fields and "status_note" not in form.fields


def test_audit_events_are_read_only_in_the_admin(staff, owner, client_of):
    client_of(owner).post("/organization/departments/new/", {"name": "A", "code": "A"})
    event = AuditEvent.objects.get()
    assert staff.get("/admin/accounts/auditevent/").status_code == 200
    page = staff.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    assert (
        page.status_code == 200 and b'type="submit"' not in page.content.split(b'id="content"')[1]
    )
    assert staff.get("/admin/accounts/auditevent/add/").status_code == 403
    assert (
        staff.post(f"/admin/accounts/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    changelist = staff.get("/admin/accounts/auditevent/")
    assert changelist.context["action_form"] is None  # not even "delete selected"
    assert AuditEvent.objects.count() == 1


@pytest.mark.parametrize("model", ["membership", "department", "invitation", "organization"])
def test_the_other_admins_render(staff, owner, model):
    assert staff.get(f"/admin/accounts/{model}/").status_code == 200


def test_the_admin_sends_a_customer_to_its_login(client_of, owner):
    response = client_of(owner).get(CHANGELIST)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
