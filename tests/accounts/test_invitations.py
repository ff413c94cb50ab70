import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, Membership
from accounts.permissions import Role
from tests.factories import DepartmentFactory, InvitationFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db


def link_in(message) -> str:
    """The path of the invitation link, which points at the portal's configured address."""
    base = re.escape(settings.PORTAL_BASE_URL.rstrip("/"))
    return re.search(base + r"(/organization/join/[^/\s]+/)", message.body).group(1)


@pytest.fixture
def send(owner, client_of, django_capture_on_commit_callbacks, mailoutbox):
    """send(email, role, department=None) -> the link from the invitation email."""

    def invite(email, role=Role.DEVELOPER, department=None):
        with django_capture_on_commit_callbacks(execute=True):
            response = client_of(owner).post(
                "/organization/invitations/",
                {
                    "email": email,
                    "role": role,
                    "department": department.public_id if department else "",
                },
            )
        assert response.status_code == 302, response.context["form"].errors
        return link_in(mailoutbox[-1])

    return invite


def test_an_invitation_email_carries_a_link_whose_token_is_stored_only_as_a_digest(
    send, owner, mailoutbox
):
    department = DepartmentFactory(organization=owner.organization)
    link = send("Colleague@Example.com", Role.DEVELOPER, department)
    message = mailoutbox[0]
    assert message.to == ["colleague@example.com"]
    assert owner.organization.name in message.subject
    assert link in message.alternatives[0][0]
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert invitation.token_digest == Invitation.digest(token) != token
    assert (invitation.role, invitation.department) == (Role.DEVELOPER, department)
    assert invitation.expires_at - timezone.now() > timedelta(days=6, hours=23)
    assert AuditEvent.objects.get(action="invitation.sent").target_id == invitation.public_id


def test_accepting_requires_signing_in_first_and_comes_back_to_the_link(send, client):
    link = send("colleague@example.com")
    VerifiedUserFactory(email="colleague@example.com")
    page = client.get(link)
    assert page.status_code == 200
    assert f"/accounts/login/?next={link}" in page.content.decode()
    assert f"/accounts/signup/?next={link}" in page.content.decode()
    response = client.post(
        "/accounts/login/",
        {"login": "colleague@example.com", "password": "correct horse battery", "next": link},
    )
    assert response.status_code == 302 and response["Location"] == link
    assert client.post(link).status_code == 302
    membership = Membership.objects.get(user__email="colleague@example.com")
    assert membership.role == Role.DEVELOPER
    assert client.get("/").context["membership"] == membership
    invitation = Invitation.objects.get()
    assert invitation.status == Invitation.Status.ACCEPTED and invitation.accepted_at
    assert AuditEvent.objects.filter(action="invitation.accepted", actor=membership.user).exists()


def test_posting_to_the_link_signed_out_goes_to_sign_in(send, client):
    link = send("colleague@example.com")
    response = client.post(link)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not Membership.objects.filter(user__email="colleague@example.com").exists()


def test_only_the_addressee_may_accept(send, client_of, outsider):
    link = send("colleague@example.com")
    client = client_of(outsider)
    page = client.get(link)
    assert page.status_code == 403
    assert "sent to another email address" in page.content.decode()
    assert client.post(link).status_code == 403
    assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_an_unverified_address_does_not_match(send, client_of):
    from tests.factories import UserFactory

    link = send("colleague@example.com")
    assert client_of(UserFactory(email="colleague@example.com")).post(link).status_code == 403


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"status": Invitation.Status.ACCEPTED}, "already been used"),
        ({"status": Invitation.Status.REVOKED}, "was withdrawn"),
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "has expired"),
    ],
)
def test_a_used_revoked_or_expired_link_says_so(org, client_of, state, message):
    user = VerifiedUserFactory()
    InvitationFactory(organization=org, email=user.email, token="t0ken", **state)
    client = client_of(user)
    for response in (
        client.get("/organization/join/t0ken/"),
        client.post("/organization/join/t0ken/"),
    ):
        assert response.status_code == 410
        assert message in response.content.decode()
    assert not Membership.objects.filter(user=user).exists()


def test_an_unknown_link_says_so(client):
    response = client.get("/organization/join/nonsense/")
    assert response.status_code == 410 and "not valid" in response.content.decode()


def test_resending_replaces_the_link_and_the_expiry(
    send, owner, client_of, mailoutbox, django_capture_on_commit_callbacks
):
    old_link = send("colleague@example.com")
    invitation = Invitation.objects.get()
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(owner).post(
            f"/organization/invitations/{invitation.public_id}/resend/"
        )
    assert response.status_code == 302
    new_link = link_in(mailoutbox[-1])
    assert new_link != old_link
    invitation.refresh_from_db()
    assert invitation.is_usable
    colleague = client_of(VerifiedUserFactory(email="colleague@example.com"))
    assert colleague.get(old_link).status_code == 410
    assert colleague.get(new_link).status_code == 200
    assert AuditEvent.objects.filter(action="invitation.resent").count() == 1


def test_a_revoked_invitation_cannot_be_accepted(send, owner, client_of):
    link = send("colleague@example.com")
    invitation = Invitation.objects.get()
    response = client_of(owner).post(
        f"/api/v1/invitations/{invitation.public_id}/revoke/", content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert AuditEvent.objects.get(action="invitation.revoked").changes == {
        "before": {"status": "pending"},
        "after": {"status": "revoked"},
    }
    colleague = client_of(VerifiedUserFactory(email="colleague@example.com"))
    assert colleague.post(link).status_code == 410
    again = client_of(owner).post(f"/api/v1/invitations/{invitation.public_id}/revoke/")
    assert again.status_code == 400


def test_the_api_invites_and_refuses_duplicates(
    owner, member, client_of, django_capture_on_commit_callbacks, mailoutbox
):
    client = client_of(owner)
    department = DepartmentFactory(organization=owner.organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/invitations/",
            {"email": "new@example.com", "role": "viewer", "department": department.public_id},
            content_type="application/json",
        )
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"], body["department"], body["status"]) == (
        "new@example.com",
        "viewer",
        department.public_id,
        "pending",
    )
    assert "token" not in str(body) and len(mailoutbox) == 1
    again = client.post(
        "/api/v1/invitations/",
        {"email": "new@example.com", "role": "viewer"},
        content_type="application/json",
    )
    assert again.status_code == 400 and "email" in again.json()["error"]["fields"]
    existing = member(Role.VIEWER)
    response = client.post(
        "/api/v1/invitations/",
        {"email": existing.user.email, "role": "viewer"},
        content_type="application/json",
    )
    assert response.json()["error"]["fields"]["email"] == ["This person is already a member."]


def test_only_an_owner_invites_an_owner(member, client_of):
    response = client_of(member(Role.ADMIN)).post(
        "/api/v1/invitations/",
        {"email": "boss@example.com", "role": "owner"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_the_home_page_offers_invitations_to_a_user_without_organization(org, client_of):
    user = VerifiedUserFactory()
    invitation = InvitationFactory(organization=org, email=user.email, role=Role.VIEWER)
    InvitationFactory(organization=org, email="someone.else@example.com")
    client = client_of(user)
    page = client.get("/")
    assert list(page.context["invitations"]) == [invitation]
    response = client.post(f"/organization/invitations/{invitation.public_id}/accept/")
    assert response.status_code == 302
    assert Membership.objects.get(user=user).role == Role.VIEWER


def test_an_invitation_for_someone_else_cannot_be_accepted_from_the_home_page(org, client_of):
    invitation = InvitationFactory(organization=org, email="someone.else@example.com")
    response = client_of(VerifiedUserFactory()).post(
        f"/organization/invitations/{invitation.public_id}/accept/"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_read_only_roles_cannot_see_or_send_invitations(member, client_of, role):
    client = client_of(member(role))
    assert client.get("/organization/invitations/").status_code == 403
    assert client.get("/api/v1/invitations/").status_code == 403


def test_an_outsider_sees_a_404_for_an_invitation(org, outsider, client_of):
    invitation = InvitationFactory(organization=org)
    client = client_of(outsider)
    assert client.get(f"/api/v1/invitations/{invitation.public_id}/").status_code == 404
    assert client.post(f"/api/v1/invitations/{invitation.public_id}/revoke/").status_code == 404
    assert (
        client.post(f"/organization/invitations/{invitation.public_id}/revoke/").status_code == 404
    )
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING
