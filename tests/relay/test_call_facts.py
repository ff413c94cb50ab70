"""The relay reports how each call it bills went: the status of its answer to the caller and
the milliseconds from the call's arrival to the end of that answer (the call log's columns)."""

import time

import httpx

from tests.relay.conftest import MODEL, usage_event
from tests.relay.fake_upstream import CONTENT

MESSAGES = [{"role": "user", "content": "Say hello to the world."}]


def stream(world, *, hang_up=False) -> tuple[str, float]:
    """One streamed chat through the relay: its request id and the seconds it took."""
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    headers = {"authorization": f"Bearer {world.key()}"}
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{world.relay}/chat/completions", json=body, headers=headers, timeout=10
    ) as response:
        received = b""
        for chunk in response.iter_bytes():
            received += chunk
            if hang_up and CONTENT[0].encode() in received:
                break
        return response.headers["x-request-id"], time.monotonic() - started


def test_a_whole_answer_reports_its_status_and_latency(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    upstreams.a.plan = ["slow"]
    upstreams.a.slow_seconds = 0.3  # within the relay's read timeout
    started = time.monotonic()
    raw = relay_world.client(relay_world.key()).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES
    )
    took_ms = (time.monotonic() - started) * 1000
    event = usage_event(raw.headers["x-request-id"])
    assert event.status_code == 200
    assert 300 <= event.latency_ms <= took_ms


def test_a_stream_reports_200_and_the_time_to_its_last_event(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    upstreams.a.plan = ["trickle"]
    upstreams.a.slow_seconds = 0.3
    request_id, took = stream(relay_world)
    event = usage_event(request_id)
    assert event.status_code == 200
    assert 300 <= event.latency_ms <= took * 1000


def test_a_caller_who_hangs_up_mid_stream_is_reported_as_499(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    upstreams.a.plan = ["trickle"]
    request_id, _ = stream(relay_world, hang_up=True)
    event = usage_event(request_id)
    assert event.status_code == 499
    assert event.latency_ms is not None


def test_an_upstream_stream_that_breaks_off_is_reported_as_502(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    upstreams.a.plan = ["trickle"]  # pauses 3 s: past the relay's read timeout of 1 s
    request_id, _ = stream(relay_world)
    event = usage_event(request_id)
    assert event.status_code == 502
    assert event.latency_ms >= 1000
