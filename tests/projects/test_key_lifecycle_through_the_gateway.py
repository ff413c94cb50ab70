"""The issue's "Done when", end to end through the portal and the gateway endpoint."""

import pytest

from projects.models import ApiKey
from tests.projects.conftest import reason


@pytest.mark.django_db(transaction=True)  # real commits: invalidation runs after commit
def test_a_developer_creates_a_key_sees_it_once_and_the_gateway_follows_its_settings(
    client, developer_in_a, project_a, catalog, gateway
):
    client.force_login(developer_in_a.user)
    response = client.post(
        f"/projects/{project_a.public_id}/keys/new/",
        {"name": "Chat bot", "allowed_models": "chat-1", "ip_allowlist": "203.0.113.0/24"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    secret = response.context["secret"]
    assert secret in page and "You will not see it again." in page
    key = ApiKey.objects.get()
    assert secret not in client.get(f"/projects/{project_a.public_id}/").content.decode()

    assert reason(gateway(secret, model="chat-1", client_ip="203.0.113.7")) == "allowed"
    assert reason(gateway(secret, model="chat-2", client_ip="203.0.113.7")) == "model_not_allowed"
    assert reason(gateway(secret, model="chat-1", client_ip="198.51.100.1")) == "ip_not_allowed"
    assert reason(gateway(secret, model="chat-1", client_ip="203.0.113.7")) == "allowed"

    response = client.post(f"/projects/{project_a.public_id}/keys/{key.public_id}/revoke/")
    assert response.status_code == 302
    assert reason(gateway(secret, model="chat-1", client_ip="203.0.113.7")) == "key_revoked"
