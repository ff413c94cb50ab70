"""Changes reach the gateway on the very next call, in every web process.

Two gunicorn processes share the Redis cache and the test database. Each change is made
while both have the key's snapshot cached; the next call to the OTHER process answers
with the change. This needs a cache two processes share: it runs where REDIS_URL is set
(the PostgreSQL + Redis run of .ci/run).
"""

import os
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from accounts.models import Organization
from projects import services
from tests.conftest import free_port
from tests.factories import as_actor
from tests.projects.server import gunicorn

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("prepaid_balance"),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="two processes share a cache only through Redis: set REDIS_URL",
    ),
]


@pytest.fixture(scope="module")
def processes(django_db_setup, django_db_blocker):
    with gunicorn(free_port()) as first, gunicorn(free_port()) as second:
        yield first, second


def authorize(base, token, api_key, model="chat-1", client_ip="203.0.113.7"):
    response = httpx.post(
        f"{base}/api/v1/gateway/authorize",
        json={"api_key": api_key, "model": model, "client_ip": client_ip},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    body = response.json()
    return "allowed" if body.get("allowed") else body["reason"]


def warm(processes, token, api_key, expected="allowed", **kwargs):
    for base in processes:
        assert authorize(base, token, api_key, **kwargs) == expected


def test_revocation_reaches_the_other_process(processes, gateway_token, key_a, owner):
    first, second = processes
    key, plaintext = key_a
    warm(processes, gateway_token, plaintext)
    services.revoke_api_key(actor=as_actor(owner), key=key)
    assert authorize(second, gateway_token, plaintext) == "key_revoked"
    assert authorize(first, gateway_token, plaintext) == "key_revoked"


def test_setting_changes_reach_the_other_process(processes, gateway_token, key_a, owner):
    first, second = processes
    key, plaintext = key_a
    warm(processes, gateway_token, plaintext)
    settings = {field: getattr(key, field) for field in services.KEY_SETTINGS}
    services.update_api_key(
        actor=as_actor(owner), key=key, **{**settings, "ip_allowlist": ["10.0.0.0/8"]}
    )
    assert authorize(second, gateway_token, plaintext) == "ip_not_allowed"
    assert authorize(first, gateway_token, plaintext, client_ip="10.1.2.3") == "allowed"
    services.update_api_key(
        actor=as_actor(owner), key=key, **{**settings, "allowed_models": ["chat-2"]}
    )
    assert authorize(second, gateway_token, plaintext) == "model_not_allowed"
    services.update_api_key(
        actor=as_actor(owner), key=key,
        **{**settings, "expires_at": timezone.now() + timedelta(seconds=2)},
    )  # fmt: skip
    warm(processes, gateway_token, plaintext)
    # Expiry needs no invalidation: the cached snapshot holds the time.
    time.sleep(2.1)
    assert authorize(first, gateway_token, plaintext) == "key_expired"


def test_archiving_the_project_reaches_the_other_process(
    processes, gateway_token, key_a, owner, project_a
):
    warm(processes, gateway_token, key_a[1])
    services.archive_project(actor=as_actor(owner), project=project_a)
    assert authorize(processes[1], gateway_token, key_a[1]) == "project_archived"


def test_organization_status_changes_reach_the_other_process(processes, gateway_token, key_a, org):
    first, second = processes
    warm(processes, gateway_token, key_a[1])
    # What accounts' suspend/approve services do: change the status, invalidate in one call.
    for status, expected in [
        (Organization.Status.SUSPENDED, "organization_suspended"),
        (Organization.Status.PENDING, "organization_unverified"),
        (Organization.Status.ACTIVE, "allowed"),
    ]:
        Organization.objects.filter(pk=org.pk).update(status=status)
        services.invalidate_organization_keys(organization_id=org.pk)
        assert authorize(second, gateway_token, key_a[1]) == expected
        assert authorize(first, gateway_token, key_a[1]) == expected


def test_rotation_reaches_the_other_process(processes, gateway_token, key_a, owner):
    first, second = processes
    old, old_plaintext = key_a
    warm(processes, gateway_token, old_plaintext)
    _, new_plaintext = services.rotate_api_key(actor=as_actor(owner), key=old, grace=timedelta(0))
    assert authorize(second, gateway_token, old_plaintext) == "key_revoked"
    assert authorize(first, gateway_token, new_plaintext) == "allowed"
