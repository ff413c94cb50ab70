"""A real gunicorn serving the portal on the test database, for tests and benchmarks."""

import contextlib
import os
import subprocess
import sys

import httpx

from tests.conftest import ROOT, database_url_for_subprocess, wait_for


@contextlib.contextmanager
def gunicorn(port: int, *, workers: int = 1, log_path=None):
    """Serve on 127.0.0.1:`port` with the test process's database and cache; yield the base URL."""
    env = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": database_url_for_subprocess()}
    log = open(log_path or os.devnull, "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        # WSGI with sync workers, as the benchmarks were measured. gunicorn still reads
        # ./gunicorn.conf.py (production: uvicorn workers on ASGI, tests/portal/test_gunicorn.py);
        # the command line overrides the application and the worker class.
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}",
         "--worker-class", "sync", "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def serving():
            """gunicorn answers"""
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn on port {port} exited with {process.returncode}")
            try:
                return httpx.get(f"{base}/api/v1/gateway/ping", timeout=1).status_code == 401
            except httpx.TransportError:
                return False

        wait_for(serving, timeout=30)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
