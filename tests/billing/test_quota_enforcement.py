"""check_quota in the gateway's authorize: blocking quotas, several quotas, query budget,
and the overshoot bound under concurrent authorize + usage."""

import os
import threading
from decimal import Decimal

import httpx
import pytest
from django.core.cache import caches
from django.db import connection, transaction

from billing.quotas import services as quotas
from billing.quotas.models import Quota, QuotaPeriod
from projects import authorize as authorization
from tests.factories import as_actor

Scope = Quota.Scope


def record(events):
    with transaction.atomic():
        quotas.record_usage(events)


@pytest.mark.django_db(transaction=True)
def test_a_used_up_blocking_quota_refuses_and_others_still_pass(
    make_quota, departments, key_a1, key_b, usage, authorize
):
    key, plaintext = key_a1
    make_quota(Scope.DEPARTMENT, departments["A"], limit=100)
    assert authorize(plaintext) == "allowed"
    record([usage(key, tokens=99)])
    assert authorize(plaintext) == "allowed"
    record([usage(key, tokens=1)])
    assert authorize(plaintext) == "quota_exceeded"
    assert authorize(key_b[1]) == "allowed"  # department B is not under A


@pytest.mark.django_db(transaction=True)
def test_an_alert_only_quota_never_refuses(make_quota, key_a1, usage, authorize):
    key, plaintext = key_a1
    make_quota(Scope.API_KEY, key, limit=10, on_exceed=Quota.OnExceed.ALERT)
    record([usage(key, tokens=50)])
    assert authorize(plaintext) == "allowed"


@pytest.mark.django_db(transaction=True)
def test_every_applicable_quota_must_pass(make_quota, org, project_a1, key_a1, usage, authorize):
    key, plaintext = key_a1
    make_quota(Scope.ORGANIZATION, limit=1000)
    project_quota = make_quota(Scope.PROJECT, project_a1, metric=Quota.Metric.MONEY, limit=1)
    record([usage(key, tokens=10, cost="0.99")])
    assert authorize(plaintext) == "allowed"
    record([usage(key, tokens=10, cost="0.01")])
    assert authorize(plaintext) == "quota_exceeded"
    quotas.update_quota(actor=_owner_actor(org), quota=project_quota, limit=Decimal("2"))
    assert authorize(plaintext) == "allowed"  # the edit reached the cached index
    record([usage(key, tokens=980)])
    assert authorize(plaintext) == "quota_exceeded"  # now the organization's


def _owner_actor(organization):
    return as_actor(organization.memberships.get(role="owner"))


@pytest.mark.django_db(transaction=True)
def test_deleting_the_quota_lifts_the_block(make_quota, owner, key_a1, usage, authorize):
    key, plaintext = key_a1
    quota = make_quota(Scope.API_KEY, key, limit=5)
    record([usage(key, tokens=5)])
    assert authorize(plaintext) == "quota_exceeded"
    quotas.delete_quota(actor=as_actor(owner), quota=quota)
    assert authorize(plaintext) == "allowed"


@pytest.mark.django_db(transaction=True)
def test_a_new_period_starts_unblocked(make_quota, key_a1, usage, monkeypatch, authorize):
    key, plaintext = key_a1
    make_quota(Scope.API_KEY, key, limit=5, period=Quota.Period.DAY)
    record([usage(key, tokens=5)])
    assert authorize(plaintext) == "quota_exceeded"
    tomorrow = authorization.time.time() + 86_400
    monkeypatch.setattr(authorization.time, "time", lambda: tomorrow)
    assert authorize(plaintext) == "allowed"


@pytest.mark.django_db(transaction=True)
def test_authorize_runs_no_query_on_a_warm_cache(
    make_quota, departments, project_a1, key_a1, usage, django_assert_num_queries, authorize
):
    key, plaintext = key_a1
    make_quota(Scope.DEPARTMENT, departments["ROOT"], limit=10**6)
    make_quota(Scope.PROJECT, project_a1, limit=10**6)
    record([usage(key, tokens=5)])
    assert authorize(plaintext) == "allowed"  # warms key, catalog and quota index
    with django_assert_num_queries(0):
        assert authorize(plaintext) == "allowed"


@pytest.mark.django_db(transaction=True)
def test_a_cold_quota_index_costs_two_queries(
    make_quota, departments, key_a1, usage, django_assert_num_queries, authorize
):
    key, plaintext = key_a1
    make_quota(Scope.DEPARTMENT, departments["A"], limit=10**6)
    assert authorize(plaintext) == "allowed"
    quotas.cache.delete(quotas._index_key(key.project.organization_id))
    with django_assert_num_queries(2):  # blocking quotas, department tree
        assert authorize(plaintext) == "allowed"


WORKERS = 8
CALLS_PER_WORKER = 15
TOKENS_PER_CALL = 100
LIMIT = 2_000


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_overshoot_by_at_most_the_calls_in_flight(
    make_quota, key_a1, usage, authorize
):
    """WORKERS threads, each: authorize, then report the call's usage (its own connection).
    Each thread has at most one call in flight, so consumption < LIMIT + WORKERS x call."""
    key, plaintext = key_a1
    quota = make_quota(Scope.API_KEY, key, limit=LIMIT)
    event_args = []
    barrier = threading.Barrier(WORKERS)
    errors = []

    def worker():
        try:
            barrier.wait()
            for _ in range(CALLS_PER_WORKER):
                if authorize(plaintext) != "allowed":
                    event_args.append("refused")
                    continue
                record([usage(key, tokens=TOKENS_PER_CALL)])
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    used = QuotaPeriod.objects.get(quota=quota).consumed_tokens
    assert LIMIT <= used < LIMIT + WORKERS * TOKENS_PER_CALL
    assert "refused" in event_args
    assert authorize(plaintext) == "quota_exceeded"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="the server and the test share the counters only through Redis: set REDIS_URL",
)
def test_a_live_server_keeps_the_overshoot_bound(
    make_quota, gateway_token, prepaid_balance, key_a1, usage
):
    """The same race through real HTTP: two gunicorn workers answer authorize from the
    Redis counters that usage recorded in this process increments."""
    from tests.conftest import free_port
    from tests.projects.server import gunicorn

    key, plaintext = key_a1
    token = gateway_token
    quota = make_quota(Scope.API_KEY, key, limit=LIMIT)
    refused, errors = [], []

    with gunicorn(free_port(), workers=2) as base:

        def worker():
            try:
                with httpx.Client(base_url=base, timeout=10) as http:
                    for _ in range(CALLS_PER_WORKER):
                        answer = http.post(
                            "/api/v1/gateway/authorize",
                            json={"api_key": plaintext, "model": "deepseek/deepseek-chat",
                                  "client_ip": "203.0.113.7"},
                            headers={"authorization": f"Bearer {token}"},
                        ).json()  # fmt: skip
                        if not answer["allowed"]:
                            refused.append(answer["reason"])
                            continue
                        record([usage(key, tokens=TOKENS_PER_CALL)])
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    used = QuotaPeriod.objects.get(quota=quota).consumed_tokens
    assert LIMIT <= used < LIMIT + WORKERS * TOKENS_PER_CALL
    assert set(refused) == {"quota_exceeded"}


CACHE_CALLS = ("get", "get_many", "get_or_set", "has_key", "set", "set_many", "add", "incr")


@pytest.fixture
def cache_calls(monkeypatch):
    """[(method, first argument)] of every call on the real cache object (Django's, whatever
    the backend) from the moment the fixture is used; calls a backend makes to itself (the
    local-memory cache's get_many calls get) are not counted."""
    real, calls, inside = caches["default"], [], []
    for name in CACHE_CALLS:
        method = getattr(real, name)

        def counted(*args, _name=name, _method=method, **kwargs):
            if not inside:
                calls.append((_name, args[0] if args else None))
            inside.append(_name)
            try:
                return _method(*args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(real, name, counted)
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_warm_authorize_is_one_cache_round_trip(
    make_quota,
    departments,
    project_a1,
    key_a1,
    usage,
    authorize,
    django_assert_num_queries,
    request,
):
    """Credential, key, catalog, policy, quota index and counters, balance: one get_many.
    The counters' keys come from the index, so the process remembers them from the call
    before; without that memory the same call costs three (key, checks, counters)."""
    key, plaintext = key_a1
    make_quota(Scope.DEPARTMENT, departments["ROOT"], limit=10**6)
    make_quota(Scope.PROJECT, project_a1, limit=10**6)
    record([usage(key, tokens=5)])
    assert authorize(plaintext) == "allowed"  # warms the cache and this process's memory
    calls = request.getfixturevalue("cache_calls")
    with django_assert_num_queries(0):
        assert authorize(plaintext) == "allowed"
    assert [name for name, _ in calls] == ["get_many"]
    fetched = " ".join(calls[0][1])
    assert all(part in fetched for part in ("quota:used:", "billing:headroom:", "model-policy"))

    calls.clear()
    authorization._read_by_checks.clear()  # a process that has not seen the key yet
    with django_assert_num_queries(0):
        assert authorize(plaintext) == "allowed"
    assert [name for name, _ in calls] == ["get_many"] * 3
