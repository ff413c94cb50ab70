"""Benchmarks: run on demand, not in the suite (figures and commands: docs/benchmarks.md)."""

import os

from tests.conftest import free_port


def bench_port(offset: int = 0) -> int:
    """BENCH_PORT (+ `offset`) when set, to measure on a known port; otherwise a free one."""
    if os.environ.get("BENCH_PORT"):
        return int(os.environ["BENCH_PORT"]) + offset
    return free_port()
