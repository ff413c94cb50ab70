"""A key's name is unique in its project only: wherever a key is named, its project is beside
it (usage tables and their CSV, quotas, the audit log, anything that prints the key)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.metering.services import ingest_usage, roll_up
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from tests.factories import ApiKeyFactory, ProjectFactory, as_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def twins(org, priced_model):
    """Two keys named "prod", in projects Search and Chatbot."""
    return [
        ApiKeyFactory(project=ProjectFactory(organization=org, name=project), name="prod")
        for project in ("Search", "Chatbot")
    ]


def test_the_key_names_its_project(twins):
    assert str(twins[0]).startswith("prod · Search (")


def test_the_usage_tables_name_the_project(client_of, owner, twins):
    at = timezone.now() - timedelta(minutes=5)
    ingest_usage(
        events=[
            {"request_id": f"r-{n}", "key_id": key.public_id, "model": "deepseek/deepseek-chat",
             "input_tokens": 1000, "output_tokens": 10, "occurred_at": at.isoformat()}
            for n, key in enumerate(twins)
        ]
    )  # fmt: skip
    roll_up()
    client = client_of(owner)
    page = client.get("/usage/").content.decode()
    for project in ("Search", "Chatbot"):
        assert f'>prod</a> <span class="muted">· {project}</span>' in page
    csv = b"".join(client.get("/usage/?export=keys").streaming_content).decode().splitlines()
    assert csv[0].split(",")[2:4] == ["Name", "Project"]
    assert sorted(line.split(",")[2:4] for line in csv[1:]) == [
        ["prod", "Chatbot"], ["prod", "Search"],
    ]  # fmt: skip


def test_quota_pages_name_the_project(client_of, owner, twins):
    quota = quotas.create_quota(
        actor=as_actor(owner), scope=Quota.Scope.API_KEY, target=twins[1], limit=1000,
        on_exceed=Quota.OnExceed.BLOCK,
    )  # fmt: skip
    client = client_of(owner)
    assert "prod · Chatbot" in client.get("/organization/quotas/").content.decode()
    assert (
        "prod · Chatbot" in client.get(f"/organization/quotas/{quota.public_id}/").content.decode()
    )
