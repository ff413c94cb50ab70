"""What every test folder shares: free ports and a real Celery worker; who's who (`org`,
its `owner`, `admin`, `viewer`, `member(role, department)`, an `outsider`, `department`,
`departments`); the gateway's credential and a prepaid balance; a priced model. Factories
are in tests/factories.py."""

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from accounts.permissions import Role
from portal.celery import app as celery_app
from tests.factories import (
    CatalogModelFactory,
    DepartmentFactory,
    GatewayCredentialFactory,
    LedgerEntryFactory,
    MembershipFactory,
    OrganizationFactory,
    PriceVersionFactory,
    ProviderFactory,
    VerifiedUserFactory,
    department_tree,
)

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing uses now, chosen by the operating system (bind
    to port 0 and read it back), for a test server started right after. Fixed ports collide
    when two suites run on one machine; call this as late as possible (in the fixture or the
    test that starts the server), not at import."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_HELD_SOCKETS: list[socket.socket] = []


def closed_port() -> int:
    """A TCP port of 127.0.0.1 that refuses connections for the rest of this process: a
    socket stays bound to it without listening, so no other server (of this or another
    suite) can take it while tests expect connections to it to fail."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    _HELD_SOCKETS.append(held)
    return held.getsockname()[1]


@pytest.fixture
def server_port() -> int:
    """A free port for the test's own server (see free_port)."""
    return free_port()


def database_url_for_subprocess() -> str:
    """The URL of the test database, so that a child process works on the same data."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s: {predicate.__doc__ or predicate}")


def start_celery_worker(tmp_path, **extra_env) -> tuple[subprocess.Popen, Path]:
    """Start a real Celery worker process on the configured broker and the test database;
    wait until it is ready. Returns (process, log path). `extra_env` overrides settings."""
    log_path = tmp_path / f"worker-{time.monotonic_ns()}.log"
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url_for_subprocess(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_URL": f"filemail:///{tmp_path / 'mail'}",
        **extra_env,
    }
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo",
             "--purge", "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def worker_is_ready():
        """the worker logs 'ready'"""
        if worker.poll() is not None:
            pytest.fail(f"worker exited early:\n{log_path.read_text()}")
        return "ready." in log_path.read_text()

    try:
        wait_for(worker_is_ready, timeout=60)
    except BaseException:
        worker.kill()
        raise
    return worker, log_path


def stop_celery_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
def celery_worker_env():
    """Environment variables (settings) of the `celery_worker` fixture's process; a test
    folder overrides this fixture to change them."""
    return {}


@pytest.fixture
def celery_worker(transactional_db, tmp_path, monkeypatch, celery_worker_env):
    """A real Celery worker process on the configured broker, using the test database.

    Yields the folder where the worker's file email backend writes messages.
    """
    worker, _ = start_celery_worker(tmp_path, **celery_worker_env)
    try:
        monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
        yield tmp_path / "mail"
    finally:
        stop_celery_worker(worker)


@pytest.fixture
def empty_cache():
    """Start from an empty cache: rate limits and used one-time codes of earlier tests (or,
    with Redis, earlier runs) must not leak in."""
    cache.clear()


@pytest.fixture
def staff_user(client, empty_cache):
    """A staff member signed in to `client` with password and TOTP, as the console requires."""
    from tests.accounts.signin import sign_in, totp_code, totp_set_up_earlier, verified_user

    user = verified_user("staff@example.com", is_staff=True, is_superuser=True)
    sign_in(client, user.email, code=totp_code(totp_set_up_earlier(user)))
    return user


# --- Who's who: an organization, its owner, members by role, and an outsider ---------------
# Every folder speaks of these; a folder that needs a richer world names it for what it holds
# (metering_world, relay_world, customer()).


@pytest.fixture
def org(db):
    """An active organization."""
    return OrganizationFactory()


@pytest.fixture
def member(org):
    """member(role=Role.DEVELOPER, department=None, **fields) -> a new Membership of `org`
    (a verified user)."""

    def make(role=Role.DEVELOPER, department=None, **fields):
        return MembershipFactory(
            organization=org, role=role, department=department, user=VerifiedUserFactory(),
            **fields,
        )  # fmt: skip

    return make


@pytest.fixture
def owner(member):
    """The owner's Membership of `org`."""
    return member(Role.OWNER)


@pytest.fixture
def admin(member):
    """An admin's Membership of `org`."""
    return member(Role.ADMIN)


@pytest.fixture
def viewer(member):
    """A viewer's Membership of `org` (read-only, organization-wide)."""
    return member(Role.VIEWER)


@pytest.fixture
def outsider(db):
    """The owner's Membership of another organization: sees nothing of `org`."""
    return MembershipFactory(role=Role.OWNER, user=VerifiedUserFactory())


@pytest.fixture
def department(org):
    """A department of `org`."""
    return DepartmentFactory(organization=org)


@pytest.fixture
def departments(org):
    """`org`'s departments ROOT > (A > A1), B, by code."""
    return department_tree(org)


# --- The model gateway's side -----------------------------------------------------------------


@pytest.fixture
def gateway_token(db):
    """The plaintext of the gateway credential "gw-1", as a model gateway presents it."""
    return GatewayCredentialFactory(name="gw-1").plaintext


@pytest.fixture
def prepaid_balance(org):
    """Money on `org`'s prepaid balance, so that insufficient_balance stays out of the way
    of authorize."""
    return LedgerEntryFactory(organization=org, amount=1_000_000)


# --- The catalog ------------------------------------------------------------------------------


@pytest.fixture
def priced_model(db):
    """deepseek/deepseek-chat at 2 / 8 / 0.5 CNY per million tokens since 2026-01-01."""
    provider = ProviderFactory(slug="deepseek", name="DeepSeek")
    model = CatalogModelFactory(
        model_id="deepseek/deepseek-chat", provider=provider, display_name="DeepSeek Chat"
    )
    PriceVersionFactory(model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    return model


@pytest.fixture
def client_of():
    """client_of(membership or user) -> a test client signed in as that user."""

    def signed_in(who):
        client = Client()
        client.force_login(getattr(who, "user", who))
        return client

    return signed_in


@pytest.fixture(autouse=True, scope="session")
def urls_stay_on_this_machine():
    """No test saves a webhook or relay channel URL that leads off this machine: its host
    is 127.0.0.1 (the suite's receivers and fake upstreams), or a name under .invalid that
    only a test's resolver answers."""
    from django.db.models.signals import pre_save

    from notifications.models import WebhookEndpoint
    from relay.models import Channel

    fields = {WebhookEndpoint: "url", Channel: "base_url"}

    def check(sender, instance, **kwargs):
        url = getattr(instance, fields[sender])
        host = httpx.URL(url).host
        assert host == "127.0.0.1" or host.endswith(".invalid"), f"{sender.__name__} URL {url}"

    for model in fields:
        pre_save.connect(check, sender=model, weak=False)
    yield
    for model in fields:
        pre_save.disconnect(check, sender=model)
