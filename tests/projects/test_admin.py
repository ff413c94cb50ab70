"""Staff issue gateway credentials in the admin: shown once, stored as digests, revocable."""

import pytest

from accounts.models import AuditEvent
from projects.models import GatewayCredential

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    """Signed in as staff with TOTP, as the console requires."""
    return client


def test_a_new_credential_is_shown_once_after_creation(staff_client):
    response = staff_client.post("/admin/projects/gatewaycredential/add/", {"name": "gateway-sh"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    credential = GatewayCredential.objects.get()
    assert secret.startswith(credential.prefix) and secret in response.content.decode()
    assert credential.digest != secret and secret not in credential.digest
    assert AuditEvent.objects.filter(action="gateway_credential.created").exists()
    page = staff_client.get(f"/admin/projects/gatewaycredential/{credential.pk}/change/")
    assert page.status_code == 200 and secret not in page.content.decode()
    ping = staff_client.get("/api/v1/gateway/ping", headers={"authorization": f"Bearer {secret}"})
    assert ping.status_code == 200


def test_staff_revoke_credentials_with_an_action(staff_client):
    staff_client.post("/admin/projects/gatewaycredential/add/", {"name": "old"})
    credential = GatewayCredential.objects.get()
    response = staff_client.post(
        "/admin/projects/gatewaycredential/",
        {"action": "revoke", "_selected_action": [credential.pk]},
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.revoked_at is not None


def test_keys_and_projects_are_read_only_in_the_admin(staff_client, key_a):
    key, secret = key_a
    page = staff_client.get(f"/admin/projects/apikey/{key.pk}/change/")
    assert page.status_code == 200
    assert key.digest not in page.content.decode() and secret not in page.content.decode()
    assert staff_client.get("/admin/projects/apikey/add/").status_code == 403
