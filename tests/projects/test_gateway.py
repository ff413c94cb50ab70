"""POST /api/v1/gateway/authorize and GET /api/v1/gateway/ping."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Organization
from projects import authorize as gateway_module
from projects import services, tokens
from projects.models import ApiKey, GatewayCredential
from projects.tokens import _checksum
from tests.factories import as_actor
from tests.projects.conftest import reason

pytestmark = pytest.mark.django_db


def test_an_unrestricted_key_is_allowed_with_opaque_ids_and_limits(gateway, key_a, departments):
    key, plaintext = key_a
    response = gateway(plaintext)
    assert response.status_code == 200
    assert response.json() == {
        "allowed": True,
        "key_id": key.public_id,
        "project_id": key.project.public_id,
        "organization_id": key.project.organization.public_id,
        "department_id": departments["A"].public_id,
        "limits": {"rpm": None, "tpm": None},
    }


def test_limits_are_returned_to_the_gateway(gateway, owner, project_a, catalog):
    _, plaintext = services.create_api_key(
        actor=as_actor(owner), project=project_a, name="limited", rpm_limit=60, tpm_limit=90_000
    )
    assert gateway(plaintext).json()["limits"] == {"rpm": 60, "tpm": 90_000}


@pytest.mark.parametrize(
    "api_key",
    ["", "nonsense", "tpk_short", "tpg_" + "a" * 57, "sk-" + "a" * 48],
)
def test_a_malformed_key_is_invalid_without_any_query(
    gateway, gateway_token, api_key, django_assert_num_queries
):
    gateway(api_key="tpk_warmup")  # the credential is now cached
    with django_assert_num_queries(0):
        response = gateway(api_key)
    if response.status_code == 400:  # the empty string fails the body's validation
        assert api_key == ""
    else:
        assert response.status_code == 403
        assert response.json() == {"allowed": False, "reason": "invalid_key"}


def test_a_key_with_a_bad_checksum_touches_neither_cache_nor_database(
    gateway, key_a, django_assert_num_queries
):
    _, plaintext = key_a
    tampered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    key, _ = key_a
    gateway(tampered)
    with django_assert_num_queries(0):
        assert reason(gateway(tampered)) == "invalid_key"
    assert cache.get(gateway_module.API_KEYS.keys(key.prefix)[0]) is None  # never looked up


def test_an_unknown_key_with_a_valid_checksum_is_invalid(gateway, key_a):
    plaintext, _ = ApiKey.token_format.generate()
    assert reason(gateway(plaintext)) == "invalid_key"


def test_a_key_whose_secret_differs_from_the_stored_digest_is_invalid(gateway, key_a):
    key, _ = key_a
    forged, _ = ApiKey.token_format.generate()
    # Same public prefix, another secret, a correct checksum for it.
    body = key.prefix + forged[len(key.prefix) : -6]
    assert reason(gateway(body + _checksum(body))) == "invalid_key"


def test_a_revoked_key_is_refused(gateway, key_a, owner, django_capture_on_commit_callbacks):
    key, plaintext = key_a
    assert reason(gateway(plaintext)) == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_api_key(actor=as_actor(owner), key=key)
    assert reason(gateway(plaintext)) == "key_revoked"


def test_an_expired_key_is_refused_without_any_invalidation(gateway, key_a):
    key, plaintext = key_a
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + timedelta(days=1))
    cache.clear()
    assert reason(gateway(plaintext)) == "allowed"
    # The snapshot holds the expiry time: time passing needs no cache change.
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    snapshot_key = gateway_module.API_KEYS.keys(key.prefix)[0]
    snapshot = cache.get(snapshot_key)
    cache.set(snapshot_key, {**snapshot, "expires_at": snapshot["expires_at"] - 86_401})
    assert reason(gateway(plaintext)) == "key_expired"


def test_model_rules(gateway, owner, project_a, catalog):
    _, plaintext = services.create_api_key(
        actor=as_actor(owner), project=project_a, name="chat-1 only", allowed_models=["chat-latest"]
    )
    assert reason(gateway(plaintext, model="chat-1")) == "allowed"
    assert reason(gateway(plaintext, model="chat-latest")) == "allowed"  # an alias
    assert reason(gateway(plaintext, model="chat-2")) == "model_not_allowed"
    assert reason(gateway(plaintext, model="no-such-model")) == "model_not_allowed"


def test_a_retired_model_is_refused_even_to_an_unrestricted_key(gateway, key_a):
    assert reason(gateway(key_a[1], model="old-1")) == "model_not_allowed"


@pytest.mark.parametrize(
    ("client_ip", "expected"),
    [
        ("203.0.113.7", "allowed"),
        ("198.51.100.200", "allowed"),
        ("::ffff:198.51.100.9", "allowed"),  # IPv4-mapped IPv6
        ("2001:db8::1", "allowed"),
        ("203.0.113.8", "ip_not_allowed"),
        ("2001:db9::1", "ip_not_allowed"),
    ],
)
def test_the_ip_allowlist(gateway, owner, project_a, catalog, client_ip, expected):
    _, plaintext = services.create_api_key(
        actor=as_actor(owner),
        project=project_a,
        name="office",
        ip_allowlist=["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"],
    )
    assert reason(gateway(plaintext, client_ip=client_ip)) == expected


def test_an_archived_project_refuses_its_keys(
    gateway, key_a, owner, project_a, django_capture_on_commit_callbacks
):
    assert reason(gateway(key_a[1])) == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        services.archive_project(actor=as_actor(owner), project=project_a)
    assert reason(gateway(key_a[1])) == "project_archived"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Organization.Status.PENDING, "organization_unverified"),
        (Organization.Status.SUSPENDED, "organization_suspended"),
        (Organization.Status.ACTIVE, "allowed"),
    ],
)
def test_the_organization_status(
    gateway, key_a, org, status, expected, django_capture_on_commit_callbacks
):
    assert reason(gateway(key_a[1])) == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        Organization.objects.filter(pk=org.pk).update(status=status)
        services.invalidate_organization_keys(organization_id=org.pk)
    assert reason(gateway(key_a[1])) == expected


def test_the_first_failing_check_gives_the_reason(
    gateway, owner, project_a, catalog, org, django_capture_on_commit_callbacks
):
    _, plaintext = services.create_api_key(
        actor=as_actor(owner),
        project=project_a,
        name="x",
        allowed_models=["chat-2"],
        ip_allowlist=["10.0.0.0/8"],
    )
    assert reason(gateway(plaintext)) == "model_not_allowed"
    assert reason(gateway(plaintext, model="chat-2")) == "ip_not_allowed"
    with django_capture_on_commit_callbacks(execute=True):
        Organization.objects.filter(pk=org.pk).update(status=Organization.Status.SUSPENDED)
        services.invalidate_organization_keys(organization_id=org.pk)
    assert reason(gateway(plaintext)) == "organization_suspended"


def test_added_checks_run_after_the_built_in_ones(gateway, key_a, monkeypatch):
    """The hook the quota and billing issues use: a check appended to CHECKS."""
    seen = []

    def check_quota(call, found):
        seen.append(call.key["organization_pk"])
        return "quota_exceeded"

    monkeypatch.setattr(gateway_module, "CHECKS", [*gateway_module.CHECKS, check_quota])
    assert reason(gateway(key_a[1])) == "quota_exceeded"
    assert reason(gateway(key_a[1], model="old-1")) == "model_not_allowed"
    assert seen == [key_a[0].project.organization_id]


# --- Speed ------------------------------------------------------------------------------------


def test_a_cache_hit_runs_no_query(gateway, key_a, owner, project_a, django_assert_num_queries):
    _, restricted = services.create_api_key(
        actor=as_actor(owner), project=project_a, name="r", allowed_models=["chat-2"]
    )
    gateway(key_a[1])
    gateway(restricted)
    with django_assert_num_queries(0):
        assert reason(gateway(key_a[1])) == "allowed"
        assert reason(gateway(restricted)) == "model_not_allowed"
        assert reason(gateway(key_a[1], model="old-1")) == "model_not_allowed"


def test_a_key_miss_runs_one_query(
    gateway, key_a, django_assert_num_queries, django_capture_on_commit_callbacks
):
    key, plaintext = key_a
    gateway(plaintext)  # credential, catalog and last-used marker are warm
    with django_capture_on_commit_callbacks(execute=True):
        gateway_module.API_KEYS.invalidate([key.prefix])
    with django_assert_num_queries(1) as captured:
        assert reason(gateway(plaintext)) == "allowed"
    sql = captured.captured_queries[0]["sql"]
    assert (
        "projects_project" in sql
        and "accounts_organization" in sql
        and "accounts_department" in sql
    )


def test_a_cold_start_loads_the_catalog_once_in_one_query(
    gateway, key_a, django_assert_num_queries
):
    gateway("tpk_warmup")  # the credential only
    # key (1) + whole catalog (1) + the department's model policy (2: department chain and
    # policies) + the organization's blocking quotas (1) + the balance (1) + its packs and
    # plan allowance (1) + the once-a-minute last_used_at write (1); all but the last are
    # cached afterwards
    with django_assert_num_queries(8):
        gateway(key_a[1])
    with django_assert_num_queries(0):  # every model and alias is now cached
        assert reason(gateway(key_a[1], model="chat-latest")) == "allowed"
        assert reason(gateway(key_a[1], model="chat-2")) == "allowed"


def test_an_unknown_model_is_remembered(gateway, key_a, django_assert_num_queries):
    gateway(key_a[1], model="no-such-model")
    with django_assert_num_queries(0):
        assert reason(gateway(key_a[1], model="no-such-model")) == "model_not_allowed"


def test_a_catalog_change_reaches_the_gateway(
    gateway, key_a, catalog, django_capture_on_commit_callbacks
):
    assert reason(gateway(key_a[1], model="chat-2")) == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        catalog["chat-2"].status = "retired"
        catalog["chat-2"].save()
    assert reason(gateway(key_a[1], model="chat-2")) == "model_not_allowed"


def test_last_used_is_written_at_most_once_a_minute(gateway, key_a, django_assert_num_queries):
    key, plaintext = key_a
    assert key.last_used_at is None
    gateway(plaintext)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        for _ in range(5):
            gateway(plaintext)
    # Even if the marker is lost (another process, an evicted entry), the UPDATE is
    # conditional: within the minute it changes nothing.
    cache.delete(gateway_module.API_KEYS.keys(key.prefix)[2])
    with django_assert_num_queries(1):
        gateway(plaintext)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    # A minute later the next call records the use again.
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(seconds=61))
    cache.delete(gateway_module.API_KEYS.keys(key.prefix)[2])
    gateway(plaintext)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_a_refused_call_does_not_count_as_use(gateway, key_a):
    gateway(key_a[1], model="old-1")
    assert ApiKey.objects.get(pk=key_a[0].pk).last_used_at is None


# --- Rotation ---------------------------------------------------------------------------------


def test_after_rotation_both_keys_work_during_the_grace_period(
    gateway, key_a, owner, django_capture_on_commit_callbacks
):
    old, old_plaintext = key_a
    assert reason(gateway(old_plaintext)) == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        new, new_plaintext = services.rotate_api_key(actor=as_actor(owner), key=old)
    assert reason(gateway(old_plaintext)) == "allowed"
    assert reason(gateway(new_plaintext)) == "allowed"
    old.refresh_from_db()
    assert timedelta(hours=23, minutes=59) < old.revoked_at - timezone.now() <= timedelta(hours=24)
    assert new.rotated_from == old


def test_after_the_grace_period_the_old_key_is_revoked(
    gateway, key_a, owner, django_capture_on_commit_callbacks
):
    old, old_plaintext = key_a
    with django_capture_on_commit_callbacks(execute=True):
        _, new_plaintext = services.rotate_api_key(
            actor=as_actor(owner), key=old, grace=timedelta(0)
        )
    assert reason(gateway(old_plaintext)) == "key_revoked"
    assert reason(gateway(new_plaintext)) == "allowed"


def test_the_grace_period_ends_by_time_alone(
    gateway, key_a, owner, django_capture_on_commit_callbacks
):
    old, old_plaintext = key_a
    with django_capture_on_commit_callbacks(execute=True):
        services.rotate_api_key(actor=as_actor(owner), key=old, grace=timedelta(hours=1))
    assert reason(gateway(old_plaintext)) == "allowed"
    # An hour later (the cached snapshot's clock moved on, nothing invalidated it):
    snapshot_key = gateway_module.API_KEYS.keys(old.prefix)[0]
    snapshot = cache.get(snapshot_key)
    cache.set(snapshot_key, {**snapshot, "revoked_at": snapshot["revoked_at"] - 3601})
    assert reason(gateway(old_plaintext)) == "key_revoked"


def test_the_new_key_keeps_the_settings(key_a, owner, project_a, catalog):
    key, _ = services.create_api_key(
        actor=as_actor(owner), project=project_a, name="n", allowed_models=["chat-2"],
        ip_allowlist=["10.0.0.0/8"], rpm_limit=5, tpm_limit=50,
    )  # fmt: skip
    new, _ = services.rotate_api_key(actor=as_actor(owner), key=key)
    for field in services.KEY_SETTINGS:
        assert getattr(new, field) == getattr(key, field)


# --- The gateway credential and the request body ------------------------------------------------


def test_without_a_credential_the_gateway_gets_401(client, key_a):
    response = client.post(
        "/api/v1/gateway/authorize",
        {"api_key": key_a[1], "model": "chat-1", "client_ip": "203.0.113.7"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])
def test_a_wrong_credential_gets_401(client, key_a, header):
    response = client.get("/api/v1/gateway/ping", headers={"authorization": header})
    assert response.status_code == 401


def test_an_api_key_is_not_a_gateway_credential(client, key_a):
    response = client.get("/api/v1/gateway/ping", headers={"authorization": f"Bearer {key_a[1]}"})
    assert response.status_code == 401


def test_a_signed_in_user_is_not_a_gateway(client, owner):
    client.force_login(owner.user)
    assert client.get("/api/v1/gateway/ping").status_code == 401


def test_a_revoked_credential_gets_401_on_the_next_call(
    client, gateway_token, owner, django_capture_on_commit_callbacks
):
    headers = {"authorization": f"Bearer {gateway_token}"}
    assert client.get("/api/v1/gateway/ping", headers=headers).json() == {
        "ok": True,
        "credential": "gw-1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_gateway_credential(
            actor=services.Actor(user=owner.user), credential=GatewayCredential.objects.get()
        )
    assert client.get("/api/v1/gateway/ping", headers=headers).status_code == 401


def test_a_cached_credential_costs_no_query(client, gateway_token, django_assert_num_queries):
    headers = {"authorization": f"Bearer {gateway_token}"}
    client.get("/api/v1/gateway/ping", headers=headers)
    with django_assert_num_queries(0):
        assert client.get("/api/v1/gateway/ping", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"api_key", "model", "client_ip"}),
        ({"api_key": "x", "model": "chat-1", "client_ip": "not-an-ip"}, {"client_ip"}),
        ({"api_key": "x", "model": "has space", "client_ip": "10.0.0.1"}, {"model"}),
        ({"api_key": ["x"], "model": "chat-1", "client_ip": "10.0.0.1"}, {"api_key"}),
    ],
)
def test_a_malformed_body_gets_400_with_field_errors(client, gateway_token, body, fields):
    response = client.post(
        "/api/v1/gateway/authorize",
        body,
        content_type="application/json",
        headers={"authorization": f"Bearer {gateway_token}"},
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == fields


def test_a_body_that_is_not_json_gets_400(client, gateway_token):
    response = client.post(
        "/api/v1/gateway/authorize",
        "{not json",
        content_type="application/json",
        headers={"authorization": f"Bearer {gateway_token}"},
    )
    assert response.status_code == 400


def test_a_malformed_body_without_a_valid_credential_gets_401(client, gateway_token):
    for header in ({"authorization": "Bearer tpg_nope"}, {}):
        response = client.post(
            "/api/v1/gateway/authorize", {}, content_type="application/json", headers=header
        )
        assert response.status_code == 401


def test_the_credential_and_the_key_come_in_one_cache_round_trip(
    gateway, gateway_token, key_a, monkeypatch
):
    gateway(key_a[1])  # warm
    calls = []
    real_get_many = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: calls.append(keys) or real_get_many(keys))
    assert reason(gateway(key_a[1])) == "allowed"
    # Later checks (quotas) read their own keys; the first read brings credential and key.
    credential_prefix = tokens.GATEWAY_CREDENTIAL.prefix_of(gateway_token)
    credential_snapshot = gateway_module.CREDENTIALS.keys(credential_prefix)[0]
    key_snapshot = gateway_module.API_KEYS.keys(key_a[0].prefix)[0]
    assert {credential_snapshot, key_snapshot} <= set(calls[0])


def test_a_snapshot_cached_under_an_older_stamp_is_not_believed(gateway, key_a, owner):
    """The race: a reload read the database before a revocation committed and cached the
    old state after the new stamp was set. Its stamp is the one it read first: stale."""
    key, plaintext = key_a
    assert reason(gateway(plaintext)) == "allowed"
    snapshot_key, stamp_key, *_ = gateway_module.API_KEYS.keys(key.prefix)
    stale = cache.get(snapshot_key)
    services.revoke_api_key(actor=as_actor(owner), key=key)  # its on-commit stamp never runs here
    cache.set(stamp_key, "after-the-revocation")
    cache.set(snapshot_key, {**stale, "stamp": "before-the-revocation"})
    assert reason(gateway(plaintext)) == "key_revoked"


def test_an_unknown_key_is_remembered_until_its_prefix_is_used(
    gateway,
    key_a,
    project_a,
    settings,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    plaintext, prefix = ApiKey.token_format.generate()
    assert reason(gateway(plaintext)) == "invalid_key"
    with django_assert_num_queries(0):
        assert reason(gateway(plaintext)) == "invalid_key"
    # What create_api_key() does for the prefix it stores: forget the "no such key".
    with django_capture_on_commit_callbacks(execute=True):
        ApiKey.objects.create(
            project=project_a, name="late", prefix=prefix, pepper_id=settings.API_KEY_PEPPER_ID,
            digest=tokens.digest(plaintext, settings.API_KEY_PEPPER_ID),
        )  # fmt: skip
        gateway_module.API_KEYS.invalidate([prefix])
    assert reason(gateway(plaintext)) == "allowed"


def test_the_organizations_model_policy_is_enforced_and_fresh(
    gateway, key_a, owner, departments, catalog, django_capture_on_commit_callbacks
):
    from billing.catalog.models import ModelPolicy
    from billing.catalog.services import delete_model_policy, save_model_policy

    assert reason(gateway(key_a[1], model="chat-2")) == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        policy = save_model_policy(
            actor=as_actor(owner),
            policy=ModelPolicy(organization=owner.organization, department=departments["ROOT"]),
            catalog_models=[catalog["chat-2"]],
            providers=[],
        )
    # Deny list on an ancestor of project A's department: the very next call is refused.
    assert reason(gateway(key_a[1], model="chat-2")) == "model_not_allowed"
    assert reason(gateway(key_a[1], model="chat-1")) == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        delete_model_policy(actor=as_actor(owner), policy=policy)
    assert reason(gateway(key_a[1], model="chat-2")) == "allowed"
