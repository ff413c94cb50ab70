"""Staff configure channels in the console: the credential is write-only, changes are
audited, and the health page shows each channel's breaker."""

import pytest
from django.core.management import call_command

from accounts.models import AuditEvent
from portal import crypto
from relay import channels
from relay.models import Channel
from tests.factories import CatalogModelFactory, ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    return client


def form(**values):
    return {
        "name": "deepseek-official",
        "base_url": "http://127.0.0.1:9/deepseek/v1",
        "credential": "sk-very-secret",
        "priority": "1",
        "weight": "3",
        "is_enabled": "on",
        "models-TOTAL_FORMS": "0",
        "models-INITIAL_FORMS": "0",
        **values,
    }


def test_the_credential_is_stored_encrypted_and_never_shown_again(staff_client):
    response = staff_client.post("/admin/gateway/channel/add/", form())
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert crypto.decrypt(channel.credential_encrypted) == "sk-very-secret"
    page = staff_client.get(f"/admin/gateway/channel/{channel.pk}/change/").content.decode()
    assert "sk-very-secret" not in page and channel.credential_encrypted not in page
    assert AuditEvent.objects.filter(action="relay_channel.created").exists()

    # Saving without a credential keeps it; a new one replaces it.
    staff_client.post(
        f"/admin/gateway/channel/{channel.pk}/change/", form(credential="", weight="5")
    )
    channel.refresh_from_db()
    assert (channel.weight, crypto.decrypt(channel.credential_encrypted)) == (5, "sk-very-secret")
    staff_client.post(f"/admin/gateway/channel/{channel.pk}/change/", form(credential="sk-new"))
    channel.refresh_from_db()
    assert crypto.decrypt(channel.credential_encrypted) == "sk-new"
    change = AuditEvent.objects.filter(action="relay_channel.changed").order_by("pk").last()
    assert change.changes["after"]["credential"] == "(replaced)"
    assert "sk-new" not in str(change.changes)


def test_a_new_channel_needs_a_credential(staff_client):
    response = staff_client.post("/admin/gateway/channel/add/", form(credential=""))
    assert response.status_code == 200 and not Channel.objects.exists()


def test_the_health_page_shows_each_breaker(staff_client, settings):
    settings.RELAY_BREAKER_FAILURES = 1
    healthy = ChannelFactory(name="healthy", base_url="http://127.0.0.1:9/a/v1")
    failing = ChannelFactory(name="failing", base_url="http://127.0.0.1:9/b/v1")
    channels.record_failure(failing.pk, "HTTP 503: upstream overloaded")
    page = staff_client.get("/admin/gateway/channel/health/")
    assert page.status_code == 200
    rows = {row["channel"].name: row for row in page.context["rows"]}
    assert rows["failing"]["state"] == "open" and rows["healthy"]["state"] == "closed"
    assert "HTTP 503: upstream overloaded" in page.content.decode()
    assert healthy.pk != failing.pk


def test_the_health_page_is_for_staff_only(client, owner):
    client.force_login(owner.user)
    response = client.get("/admin/gateway/channel/health/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_management_command_adds_a_channel(monkeypatch):
    CatalogModelFactory(model_id="deepseek/deepseek-chat")
    monkeypatch.setenv("RELAY_CHANNEL_API_KEY", "sk-from-env")
    call_command(
        "relay_channel", "local", "http://127.0.0.1:18080/v1",
        "--model", "deepseek/deepseek-chat=deepseek-chat",
    )  # fmt: skip
    channel = Channel.objects.get(name="local")
    assert crypto.decrypt(channel.credential_encrypted) == "sk-from-env"
    [served] = channel.models.all()
    assert (served.model.model_id, served.upstream_model) == (
        "deepseek/deepseek-chat",
        "deepseek-chat",
    )
