"""Settings are read from the environment; each case starts a fresh interpreter."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ROOT

PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "kq3#v9!mZ2p@x7Lr8sT1wB4nE6yU0cH5jD-fG_aQ+oI*KeW(RhMtYv)uPzXbNcAsdF",
    "ALLOWED_HOSTS": "portal.example.cn",
    "API_KEY_PEPPERS": "1:Hk2pX9vQ7mZ4rT8wL3nB6yC1dF5gJ0sA",
    "FIELD_ENCRYPTION_KEYS": "3q2-7wX5b8QwK1vZyHn0cLm9pRt4sUe6fGh2jKa3bCd=",
}


def run(code: str, **overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SECRET_KEY", "DEBUG"}}
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def manage(*args, **overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SECRET_KEY", "DEBUG"}}
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_development_settings_load_with_no_variables_and_debug_off():
    result = run("from django.conf import settings; print(settings.DEBUG, settings.ENVIRONMENT)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False development"


def test_debug_is_on_only_when_asked():
    result = run("from django.conf import settings; print(settings.DEBUG)", DEBUG="true")
    assert result.stdout.strip() == "True"


def test_production_refuses_to_start_without_a_secret_key():
    result = run("pass", DJANGO_ENV="production", ALLOWED_HOSTS="portal.example.cn")
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required in production" in result.stderr


def test_production_refuses_to_start_without_field_encryption_keys():
    result = run("pass", **{**PRODUCTION, "FIELD_ENCRYPTION_KEYS": ""})
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS (or FIELD_ENCRYPTION_KEYS_FILE) is required" in result.stderr


def test_a_field_encryption_key_that_is_not_a_fernet_key_stops_startup():
    result = run("pass", FIELD_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be Fernet keys" in result.stderr


def test_development_derives_the_field_encryption_key_from_the_secret_key():
    result = run(
        "from portal import crypto; print(crypto.decrypt(crypto.encrypt('s')))",
        FIELD_ENCRYPTION_KEYS="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "s"


def test_a_boolean_typo_stops_startup():
    result = run("pass", DEBUG="ture")
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_a_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION["SECRET_KEY"])
    result = run(
        "from django.conf import settings; print(settings.SECRET_KEY)",
        **{**PRODUCTION, "SECRET_KEY": "", "SECRET_KEY_FILE": str(secret_file)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == PRODUCTION["SECRET_KEY"]


def test_production_settings_pass_the_deployment_checklist():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_debug():
    result = run("pass", **PRODUCTION, DEBUG="true")
    assert result.returncode != 0
    assert "DEBUG cannot be on" in result.stderr


def test_production_turns_on_secure_cookies_hsts_and_json_logs():
    result = run(
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.X_FRAME_OPTIONS, s.SECURE_REFERRER_POLICY, "
        "s.LOGGING['handlers']['console']['formatter'])",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True", "True", "True", "31536000", "True", "DENY", "same-origin", "json",
    ]  # fmt: skip


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_log_lines_are_stamped_in_utc_not_the_business_zone(log_format):
    """Django makes TIME_ZONE (Asia/Shanghai) the process's local zone; logs stay in UTC."""
    before = datetime.now(UTC)
    result = run("import logging; logging.getLogger('probe').warning('x')", LOG_FORMAT=log_format)
    assert result.returncode == 0, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    stamp = json.loads(line)["time"] if log_format == "json" else line.split()[0]
    logged = datetime.fromisoformat(stamp)
    assert logged.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= logged <= datetime.now(UTC)


def test_a_log_format_typo_stops_startup():
    result = run("pass", LOG_FORMAT="yaml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be json or text" in result.stderr
