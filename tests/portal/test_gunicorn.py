"""The production server: gunicorn.conf.py starts uvicorn workers on the ASGI application,
logs JSON, and the metrics of all its worker processes add up in one scrape."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, database_url_for_subprocess, wait_for

TOKEN = "gunicorn-metrics-token"


@pytest.fixture
def server(transactional_db, tmp_path, server_port):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left over from an earlier run")
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url_for_subprocess(),
        "PORT": str(server_port),
        "GUNICORN_BIND": "",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{server_port}"

    def serving():
        """gunicorn answers /healthz"""
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log_path.read_text()}")
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(serving, timeout=60)
        yield base, log_path, folder
    finally:
        process.terminate()
        process.wait(timeout=30)


def records(log_path) -> list[dict]:
    lines = log_path.read_text().splitlines()
    assert lines and all(line.startswith("{") for line in lines), lines
    return [json.loads(line) for line in lines]


def test_gunicorn_serves_the_asgi_app_with_json_logs_and_shared_metrics(server):
    base, log_path, folder = server
    assert not (folder / "counter_999999.db").exists()  # emptied at start
    with httpx.Client(base_url=base, timeout=10) as http:
        health = http.get("/healthz", headers={"x-request-id": "probe-1"})
        assert health.status_code == 200
        assert health.json()["ok"] is True
        assert health.headers["x-request-id"] == "probe-1"
        for _ in range(9):
            assert http.get("/healthz").status_code == 200
        assert http.get("/no/such/page", headers={"x-request-id": "lost-1"}).status_code == 404
        assert http.get("/metrics").status_code == 403
        scrape = http.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert scrape.status_code == 200
    # Ten probes (plus the one that waited for start-up), answered by two worker processes.
    answered = sum(
        sample.value
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
        if sample.name == "portal_http_request_duration_seconds_count"
        and sample.labels == {"method": "GET", "route": "healthz", "status": "2xx"}
    )
    assert answered >= 11
    logged = records(log_path)
    assert any(r["logger"] == "uvicorn.error" for r in logged)  # ASGI, by uvicorn workers
    assert any(r["logger"] == "gunicorn.error" for r in logged)
    assert {datetime.fromisoformat(r["time"]).utcoffset() for r in logged} == {timedelta(0)}
    not_found = [r for r in logged if r["message"] == "Not Found: /no/such/page"]
    assert [(r["level"], r["request_id"]) for r in not_found] == [("WARNING", "lost-1")]
