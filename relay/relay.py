"""The OpenAI-compatible relay: authorize a portal key, pick an upstream channel, pass the
call through (streams included) and bill it as one usage event.

Per call, the event loop leaves for a worker thread once before the upstream call
(`prepare`: projects.authorize.authorize_key, the route table and the breaker states, all from
the cache when warm). After it, the call's usage event is appended to the journal
(relay.journal: a Redis stream, or fdatasync'ed local files) before the caller gets the end
of its answer, so a relay process that dies loses no answered call's bill; calls that finish
together share one write. The breaker's outcomes and the journaled events are then recorded
in batches (billing.metering.services.ingest_usage, at most once per
RELAY_BILL_EVERY_SECONDS), off the caller's path: ingestion is built for batches, and one per
call would cost more than the relay itself. A batch is acknowledged in the journal once
committed; what a dead process left there is replayed at start-up and every
RELAY_USAGE_RECOVER_AFTER_SECONDS (`recover_usage`; ingestion takes a request_id once).
`drain()` bills what is pending at shutdown (ASGI lifespan, portal/asgi.py).

Usage comes from the upstream's usage object (for streams the relay asks for it in the final
chunk with stream_options.include_usage, and drops that chunk again if the caller did not ask).
Without one, or when the caller hangs up mid-stream, the relay counts with relay.estimate
what was asked and what was delivered, and marks the event estimated.
"""

import asyncio
import json
import logging
import re
import secrets
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from redis.exceptions import RedisError

from billing.metering.models import TOKEN_FIELDS
from billing.metering.services import InvalidBatch, ingest_usage
from projects import authorize
from projects.authorize import Refusal
from relay import channels, estimate, journal, limits

logger = logging.getLogger(__name__)


# --- Errors in OpenAI's shape ----------------------------------------------------------------


class RelayError(Exception):
    """An answer in OpenAI's error shape: {"error": {"message", "type", "code"}}."""

    def __init__(self, status: int, message: str, type_: str, code: str, headers=None):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code
        self.headers: dict[str, str] = headers or {}

    def body(self) -> dict:
        return {
            "error": {"message": self.message, "type": self.type, "code": self.code, "param": None}
        }


# authorize()'s refusal reasons -> (status, type, message)
REFUSALS = {
    Refusal.INVALID_KEY: (401, "invalid_request_error", "Incorrect API key provided."),
    Refusal.KEY_REVOKED: (401, "invalid_request_error", "This API key has been revoked."),
    Refusal.KEY_EXPIRED: (401, "invalid_request_error", "This API key has expired."),
    Refusal.PROJECT_ARCHIVED: (403, "permission_error", "The key's project is archived."),
    Refusal.ORGANIZATION_UNVERIFIED: (
        403,
        "permission_error",
        "The organization is not verified yet.",
    ),
    Refusal.ORGANIZATION_SUSPENDED: (403, "permission_error", "The organization is suspended."),
    Refusal.MODEL_NOT_ALLOWED: (403, "permission_error", "This key may not use the model."),
    Refusal.IP_NOT_ALLOWED: (
        403,
        "permission_error",
        "This key may not be used from this address.",
    ),
    Refusal.QUOTA_EXCEEDED: (429, "insufficient_quota", "A quota of this key is used up."),
    Refusal.INSUFFICIENT_BALANCE: (429, "insufficient_quota", "The prepaid balance is used up."),
}
# Refusals that concern the key itself rather than one model.
KEY_REFUSALS = {
    Refusal.INVALID_KEY,
    Refusal.KEY_REVOKED,
    Refusal.KEY_EXPIRED,
    Refusal.PROJECT_ARCHIVED,
    Refusal.ORGANIZATION_UNVERIFIED,
    Refusal.ORGANIZATION_SUSPENDED,
    Refusal.IP_NOT_ALLOWED,
}


def refusal(reason: str) -> RelayError:
    status, type_, message = REFUSALS[reason]
    code = "invalid_api_key" if status == 401 else reason
    return RelayError(status, message, type_, code)


def bad_request(message: str, code: str = "invalid_request") -> RelayError:
    return RelayError(400, message, "invalid_request_error", code)


def rate_limited(limited: limits.RateLimited) -> RelayError:
    """As OpenAI's: type "requests" or "tokens", code rate_limit_exceeded, and Retry-After,
    which the SDKs wait for before they retry."""
    return RelayError(
        429,
        f"Rate limit of this key reached: {limited.limit} {limited.unit} per minute. "
        f"Try again in {limited.retry_after} s.",
        limited.unit,
        "rate_limit_exceeded",
        headers={"Retry-After": str(limited.retry_after)},
    )


# --- Before the call: authorize and choose channels --------------------------------------------


@dataclass
class Plan:
    request_id: str
    key_id: str
    model: str  # the catalog id
    candidates: list
    counts_tokens: bool = False  # the key has a TPM limit
    occurred_at: str = field(default_factory=lambda: timezone.now().isoformat())
    started: float = field(default_factory=time.monotonic)  # when the call arrived
    # How the answer to the caller ended, reported with the usage event (the call log).
    status_code: int | None = None
    latency_ms: int | None = None

    def answered(self, status_code: int) -> None:
        """The answer to the caller ends now, with `status_code`."""
        self.status_code = status_code
        self.latency_ms = round((time.monotonic() - self.started) * 1000)


def _prepare(*, api_key: str, model: str, client_ip: str, started: float | None = None) -> Plan:
    close_old_connections()
    allowed, body, model_id = authorize.authorize_key(
        api_key=api_key, model=model, client_ip=client_ip
    )
    if not allowed:
        raise refusal(body["reason"])
    candidates, served = channels.candidates(model_id)
    if not served:
        raise RelayError(
            404, f"The model {model} is not served by this relay.", "invalid_request_error",
            "model_not_found",
        )  # fmt: skip
    if not candidates:
        raise RelayError(
            503, "Every upstream channel of this model is failing; retry later.",
            "server_error", "upstream_unavailable",
        )  # fmt: skip
    try:
        limits.admit(body["key_id"], body["limits"])
    except limits.RateLimited as limited:
        raise rate_limited(limited) from None
    counts_tokens = body["limits"]["tpm"] is not None
    return Plan(
        f"req_{secrets.token_hex(12)}", body["key_id"], model_id, candidates, counts_tokens,
        started=started or time.monotonic(),
    )  # fmt: skip


prepare = sync_to_async(_prepare, thread_sensitive=False)


def _listable(*, api_key: str, client_ip: str, model: str | None = None) -> list[str]:
    """The served models the key may use, or of them only the one `model` names (a catalog id
    or an alias); a refusal of the key itself raises."""
    close_old_connections()
    served = channels.served_models()
    usable = []
    for name in (served if model is None else [model]) or [""]:  # "": the key is checked
        allowed, body, model_id = authorize.authorize_key(
            api_key=api_key, model=name, client_ip=client_ip
        )
        reason = None if allowed else body["reason"]
        if reason in KEY_REFUSALS:
            raise refusal(reason)
        if model_id in served and reason != Refusal.MODEL_NOT_ALLOWED:
            usable.append(model_id)
    return usable


listable_models = sync_to_async(_listable, thread_sensitive=False)


# --- After the call: the breaker and the bill --------------------------------------------------


def _count(value) -> int:
    """A token count from an upstream's usage object; anything but a non-negative int is 0."""
    return value if isinstance(value, int) and value > 0 else 0


@dataclass
class Usage:
    """Tokens as the gateway contract counts them: `input_tokens` are the uncached prompt
    tokens; cache reads and cache writes are counted apart, never in input_tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False

    @classmethod
    def estimate(cls, body: dict, reply: str) -> "Usage":
        """Counted with the tokenizer: in the journal's thread, never on the event loop."""
        return cls(estimate.prompt_tokens(body), estimate.count(reply), estimated=True)

    @classmethod
    def from_upstream(cls, usage: dict) -> "Usage":
        """OpenAI's shape: `prompt_tokens` includes the cache reads
        (`prompt_tokens_details.cached_tokens`, DeepSeek's `prompt_cache_hit_tokens`) and
        writes (`prompt_tokens_details.cache_write_tokens`, OpenRouter's), which are taken
        out of it. Anthropic's shape (`input_tokens`, `cache_read_input_tokens`,
        `cache_creation_input_tokens`) counts them apart already."""
        if "prompt_tokens" not in usage and "input_tokens" in usage:
            return cls(
                _count(usage["input_tokens"]), _count(usage.get("output_tokens")),
                _count(usage.get("cache_read_input_tokens")),
                _count(usage.get("cache_creation_input_tokens")),
            )  # fmt: skip
        prompt = _count(usage.get("prompt_tokens"))
        details = usage.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        cached = _count(details.get("cached_tokens")) or _count(
            usage.get("prompt_cache_hit_tokens")
        )
        cached = min(cached, prompt)
        written = min(_count(details.get("cache_write_tokens")), prompt - cached)
        completion = _count(usage.get("completion_tokens"))
        return cls(prompt - cached - written, completion, cached, written)


@dataclass(frozen=True)
class Unreported:
    """A call whose upstream reported no usage (or that the caller left): what was asked and
    what was delivered, counted when journaled."""

    body: dict
    reply: str


def _event(plan: Plan, usage: "Usage | Unreported") -> dict:
    if isinstance(usage, Unreported):
        usage = Usage.estimate(usage.body, usage.reply)
    return {
        "request_id": plan.request_id,
        "key_id": plan.key_id,
        "model": plan.model,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "estimated": usage.estimated,
        "occurred_at": plan.occurred_at,
        "latency_ms": plan.latency_ms,
        "status_code": plan.status_code,
    }


# In place of an outcome: the call claimed the channel's probe but never reached it.
UNTRIED = "untried"


def _ingest(events: list[dict]) -> None:
    """ingest_usage(); events the batch refuses (a model without a price ...) are logged and
    left out, never retried."""
    while events:
        try:
            ingest_usage(events=events)
            return
        except InvalidBatch as error:
            refused = {e["index"] for e in error.errors}
            for index in sorted(refused - {None}):
                problems = [e for e in error.errors if e["index"] == index]
                logger.error("relay call not billed: %s %s", events[index], problems)
            if None in refused:
                logger.error("relay batch not billed: %s", error.errors)
                return
            events = [event for index, event in enumerate(events) if index not in refused]


def _record(usage_journal, outcomes: list[tuple[int, str | None]], calls: list[tuple]) -> list:
    """Breaker outcomes [(channel pk, error, None for success, or UNTRIED)] in order, then the
    journaled calls [(key id to count TPM for or None, event, journal token)] in one batch,
    acknowledged in the journal once committed. Returns the calls to try again (the
    database failed); they stay in the journal meanwhile."""
    close_old_connections()
    for channel_pk, error in outcomes:
        if error is None:
            channels.record_success(channel_pk)
        elif error == UNTRIED:
            channels.release_probe(channel_pk)
        else:
            channels.record_failure(channel_pk, error)
    for counted_key, event, _ in calls:
        if counted_key is not None:
            limits.count_tokens(counted_key, sum(event[field] for field in TOKEN_FIELDS))
    if not calls:
        return []
    usage_journal.rotate()
    try:
        _ingest([event for _, event, _ in calls])
    except DatabaseError:
        logger.exception("relay batch of %s calls not billed yet: retried", len(calls))
        return [(None, event, token) for _, event, token in calls]
    try:
        usage_journal.ack([token for *_, token in calls if token is not None])
    except (OSError, RedisError):  # billed: a replay would only find duplicates
        logger.exception("relay batch billed but not acknowledged in the journal")
    return []


def recover_usage() -> int:
    """Bill what dead relay processes journaled and never acknowledged (ingestion takes each
    request_id once, so what they billed before dying comes back as duplicates); the number
    of events replayed."""
    close_old_connections()
    replayed = 0
    for events, acknowledge in journal.store().orphans():
        _ingest(events)
        acknowledge()
        replayed += len(events)
    if replayed:
        logger.warning("relay: replayed %s journaled usage events of stopped processes", replayed)
    return replayed


class _Recorder:
    """This event loop's calls: each one's usage event is appended to the journal (in one
    thread, several calls a write when they come together) before its caller gets the end
    of the answer; breaker outcomes and the journaled events are then recorded in batches:
    one ingest_usage() per RELAY_BILL_EVERY_SECONDS at most, off the event loop, and one
    batch at a time: the breaker's state is read, changed and written back, so two batches
    recording outcomes of one channel at once would lose one of them."""

    def __init__(self):
        self.journal = journal.store()
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-journal")
        self.waiting: list[tuple] = []  # (plan, usage, future) to journal
        self.writing: asyncio.Task | None = None
        self.outcomes: list = []
        self.calls: list[tuple] = []  # journaled: (key id to count TPM for, event, token)
        self.flushing: asyncio.Task | None = None
        self.running: set[asyncio.Task] = set()
        self.one_at_a_time = asyncio.Lock()

    def bill(self, plan: Plan, usage: "Usage | Unreported") -> asyncio.Future:
        """A future done when the call's usage event is in the journal."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((plan, usage, future))
        if self.writing is None:
            self.writing = asyncio.ensure_future(self._write())
        return future

    async def _write(self):
        loop = asyncio.get_running_loop()
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    written = await loop.run_in_executor(self.writer, self._append, batch)
                    for (plan, *_), (event, token) in zip(batch, written, strict=True):
                        counted = plan.key_id if plan.counts_tokens else None
                        self.calls.append((counted, event, token))
                    self._flush_later()
                finally:  # the answers go on, whatever happened here
                    for *_, future in batch:
                        if not future.done():  # its caller may have left
                            future.set_result(None)
        finally:
            self.writing = None

    def _append(self, batch: list[tuple]) -> list[tuple]:
        events = [_event(plan, usage) for plan, usage, _ in batch]
        try:
            tokens = self.journal.append(events)
        except (OSError, RedisError):  # still billed, from memory: lost if the process dies
            logger.exception("relay usage of %s calls not journaled", len(events))
            tokens = [None] * len(events)
        return list(zip(events, tokens, strict=True))

    def add_outcomes(self, outcomes: list) -> None:
        if outcomes:
            self.outcomes.extend(outcomes)
            self._flush_later()

    def _flush_later(self) -> None:
        if self.flushing is None:
            self.flushing = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self):
        await asyncio.sleep(settings.RELAY_BILL_EVERY_SECONDS)
        task = asyncio.ensure_future(self.flush())
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def flush(self):
        async with self.one_at_a_time:  # what was added meanwhile goes in this batch
            self.flushing = None
            outcomes, calls, self.outcomes, self.calls = self.outcomes, self.calls, [], []
            if outcomes or calls:
                retry = await sync_to_async(_record, thread_sensitive=False)(
                    self.journal, outcomes, calls
                )
                if retry:
                    self.calls[:0] = retry
                    self._flush_later()

    async def drain(self):
        """Journal and bill what is pending; what cannot be billed stays in the journal."""
        if self.writing is not None:
            await asyncio.gather(self.writing, return_exceptions=True)
        if self.flushing is not None:
            self.flushing.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(self.writer, self.journal.close)
        self.writer.shutdown(wait=False)


_recorders: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Recorder]" = (
    weakref.WeakKeyDictionary()
)


def _recorder() -> _Recorder:
    loop = asyncio.get_running_loop()
    found = _recorders.get(loop)
    if found is None:
        found = _recorders[loop] = _Recorder()
    return found


async def bill(plan: Plan, usage: "Usage | Unreported", status_code: int) -> None:
    """Return once the call's usage is journaled: the caller's answer may then complete."""
    plan.answered(status_code)
    await _recorder().bill(plan, usage)


def bill_later(plan: Plan, usage: "Usage | Unreported", status_code: int) -> None:
    """Journal and bill in the background: the answer ended early (`status_code` says why)."""
    plan.answered(status_code)
    _recorder().bill(plan, usage)


def record_outcomes(outcomes: list) -> None:
    """The breaker's outcomes of a call, recorded with the next batch."""
    if outcomes:
        _recorder().add_outcomes(outcomes)


_recovering: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = (
    weakref.WeakKeyDictionary()
)


def start() -> None:
    """At start-up (ASGI lifespan): replay what stopped processes journaled, now and every
    RELAY_USAGE_RECOVER_AFTER_SECONDS."""
    loop = asyncio.get_running_loop()
    if loop not in _recovering:
        _recovering[loop] = asyncio.ensure_future(_recover_periodically())


async def _recover_periodically():
    while True:
        try:
            await sync_to_async(recover_usage, thread_sensitive=False)()
        except Exception:  # the database or Redis is down: try again next time
            logger.exception("relay: replaying journaled usage failed")
        await asyncio.sleep(settings.RELAY_USAGE_RECOVER_AFTER_SECONDS)


# --- The HTTP client ---------------------------------------------------------------------------

_sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = (
    weakref.WeakKeyDictionary()
)


def session() -> aiohttp.ClientSession:
    """One pooled session per event loop (a worker process has one loop). aiohttp rather
    than httpx: its C parser makes an upstream call about a third of httpx's CPU, which the
    relay benchmark measures (docs/benchmarks.md, "Relay")."""
    loop = asyncio.get_running_loop()
    found = _sessions.get(loop)
    if found is None:
        connector = aiohttp.TCPConnector(limit=settings.RELAY_MAX_CONNECTIONS)
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.RELAY_CONNECT_TIMEOUT_SECONDS,
            sock_read=settings.RELAY_READ_TIMEOUT_SECONDS,
        )
        found = _sessions[loop] = aiohttp.ClientSession(
            connector=connector, timeout=timeout, trust_env=False, skip_auto_headers={"User-Agent"}
        )
    return found


async def drain() -> None:
    """At shutdown: stop replaying, bill what is pending, close this loop's upstream
    connections."""
    recovering = _recovering.pop(asyncio.get_running_loop(), None)
    if recovering is not None:
        recovering.cancel()
    recorder = _recorders.pop(asyncio.get_running_loop(), None)
    if recorder is not None:
        await recorder.drain()
    found = _sessions.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


# --- The call ----------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the view sends: the upstream's body, or an SSE stream."""

    status: int
    request_id: str
    content: bytes = b""
    content_type: str = "application/json"
    stream: "RelayStream | None" = None


async def call(*, path: str, body: dict, plan: Plan) -> Answer:
    """Try the plan's channels in order until one answers; fail over on connection errors,
    timeouts and 5xx. An upstream 4xx is the caller's answer (and no channel's fault)."""
    streaming = body.get("stream") is True
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    outcomes: list[tuple[int, str | None]] = []
    timed_out = True
    try:
        for candidate in plan.candidates:
            route = candidate.route
            upstream_body = {**body, "model": route.upstream_model}
            if streaming:
                upstream_body["stream_options"] = {
                    **(body.get("stream_options") or {}), "include_usage": True
                }  # fmt: skip
            try:
                response = await session().post(
                    route.base_url + path,
                    json=upstream_body,
                    headers={"authorization": f"Bearer {route.credential}"},
                )
            except TimeoutError as error:
                outcomes.append((route.channel_pk, f"timeout: {type(error).__name__}"))
                continue
            except aiohttp.ClientError as error:
                timed_out = False
                outcomes.append((route.channel_pk, f"connection: {type(error).__name__}: {error}"))
                continue
            if response.status >= 500:
                timed_out = False
                try:
                    detail = (await _read(response))[:200].decode(errors="replace")
                except (aiohttp.ClientError, TimeoutError) as error:
                    detail = f"unreadable body: {type(error).__name__}"
                outcomes.append((route.channel_pk, f"HTTP {response.status}: {detail}"))
                continue
            if candidate.failing:
                outcomes.append((route.channel_pk, None))
            if response.status >= 400 or not streaming:
                return await _whole(response, plan, body, outcomes, route.channel_pk)
            return Answer(
                200,
                plan.request_id,
                stream=RelayStream(response, plan, body, outcomes, route.channel_pk, wants_usage),
            )
        record_outcomes(outcomes)
        logger.warning("relay call failed on every channel: %s", outcomes)
        if timed_out:
            raise RelayError(504, "The upstream timed out.", "server_error", "upstream_timeout")
        raise RelayError(502, "The upstream failed.", "server_error", "upstream_error")
    finally:
        _release_untried_probes(plan, outcomes)


def _release_untried_probes(plan: Plan, outcomes: list) -> None:
    """Probes this call claimed but never saw the outcome of (an earlier channel answered, or
    the call was cancelled on the way): released, or they would keep the channel out for
    channels._probe_seconds()."""
    reached = {channel_pk for channel_pk, _ in outcomes}
    untried = [
        (candidate.route.channel_pk, UNTRIED)
        for candidate in plan.candidates
        if candidate.probe and candidate.route.channel_pk not in reached
    ]
    record_outcomes(untried)


async def _read(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    finally:
        response.release()


async def _whole(response, plan, body, outcomes, channel_pk) -> Answer:
    """The upstream's answer, byte for byte; a success is billed from its usage, journaled
    before the answer is returned."""
    usage = None
    try:
        content = await _read(response)
        if response.status < 400:
            answer = json.loads(content)
            if not isinstance(answer, dict):
                raise ValueError("not a JSON object")
            if isinstance(answer.get("usage"), dict):
                usage = Usage.from_upstream(answer["usage"])
            else:
                usage = Unreported(body, _reply_text(answer))
    # RecursionError: JSON nested deeper than the parser goes is no answer either.
    except (aiohttp.ClientError, TimeoutError, ValueError, RecursionError) as error:
        outcomes.append((channel_pk, f"bad answer: {error}"))
        raise RelayError(502, "The upstream sent an unreadable answer.", "server_error",
                         "upstream_error") from error  # fmt: skip
    finally:  # cancelled while reading too: the outcomes stand
        record_outcomes(outcomes)
    if usage is not None:
        await bill(plan, usage, response.status)
    if response.status < 400:
        content = _as_in_catalog(content, plan.model)
    content_type = response.headers.get("Content-Type", "application/json")
    return Answer(response.status, plan.request_id, content, content_type)


# A "model" member with its string value; a quote inside a JSON string is always escaped, so
# this never matches in content.
MODEL_MEMBER = re.compile(rb'("model"\s*:\s*)"(?:[^"\\]|\\.)*"')


def _as_in_catalog(data: bytes, model_id: str) -> bytes:
    """The answer naming the catalog model the caller asked for, not the upstream's own name
    for it: that differs by channel (and may name a channel's deployment), and callers match
    answers against the ids of /v1/models and of their bill."""
    value = json.dumps(model_id).encode()
    return MODEL_MEMBER.sub(lambda found: found.group(1) + value, data)


def _reply_text(answer: dict) -> str:
    parts = []
    for choice in answer.get("choices") or []:
        message = choice.get("message") or choice.get("delta") or {}
        parts.append(choice.get("text") or message.get("content") or "")
    return "".join(part for part in parts if isinstance(part, str))


# The status reported for a stream that ended before its end: the caller closed the
# connection (nginx's "client closed request"), or the upstream's stream broke off.
CALLER_LEFT, UPSTREAM_BROKE = 499, 502


class RelayStream:
    """The upstream's SSE events, passed through as they come. Billed when the stream ends:
    journaled before the final `[DONE]` (or, without one, before the response ends) goes to
    the caller; or for what was delivered when the caller hangs up, by close(), which the
    response calls even when the caller left before the first event (the events were then
    never iterated, and a generator's own `finally` would never run)."""

    def __init__(self, response, plan, body, outcomes, channel_pk, wants_usage):
        self.response, self.plan, self.body = response, plan, body
        self.outcomes, self.channel_pk, self.wants_usage = outcomes, channel_pk, wants_usage
        self.usage, self.delivered, self.closed, self.billed = None, [], False, False
        self.cut_off_by = CALLER_LEFT  # the status if the stream ends before it is billed

    async def __aiter__(self):
        buffer = b""
        try:
            async for chunk in self.response.content.iter_any():
                buffer += chunk.replace(b"\r\n", b"\n")
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    forward, found_usage, text, done = _inspect(event, self.wants_usage)
                    self.usage = found_usage or self.usage
                    if done:
                        await self._bill()
                    if forward is not None:
                        yield _as_in_catalog(forward, self.plan.model)
                        self.delivered.append(text)
            await self._bill()
            if buffer.strip():
                yield _as_in_catalog(buffer, self.plan.model) + b"\n\n"
        except (aiohttp.ClientError, TimeoutError) as error:
            self.outcomes.append((self.channel_pk, f"stream broken: {type(error).__name__}"))
            self.cut_off_by = UPSTREAM_BROKE
            message = {"error": {"message": "The upstream stream broke off.",
                                 "type": "server_error", "code": "upstream_error"}}  # fmt: skip
            yield b"data: " + json.dumps(message).encode() + b"\n\n"
        finally:
            self.close()

    def _usage(self) -> "Usage | Unreported":
        return self.usage or Unreported(self.body, "".join(self.delivered))

    async def _bill(self) -> None:
        if not self.billed:
            self.billed = True
            await bill(self.plan, self._usage(), 200)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.response.release()
        record_outcomes(self.outcomes)
        if not self.billed:
            self.billed = True
            bill_later(self.plan, self._usage(), self.cut_off_by)


def _inspect(event: bytes, wants_usage: bool):
    """(the event to forward or None, its Usage or None, its text, whether it is the final
    `[DONE]`) for one SSE event. Events pass byte for byte; only the usage chunk the relay
    asked for on its own is dropped."""
    forward = event + b"\n\n"
    data = b"\n".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
    if not data or data == b"[DONE]":
        return forward, None, "", data == b"[DONE]"
    try:
        chunk = json.loads(data)
    except (ValueError, RecursionError):
        return forward, None, "", False
    if not isinstance(chunk, dict):
        return forward, None, "", False
    usage = Usage.from_upstream(chunk["usage"]) if isinstance(chunk.get("usage"), dict) else None
    if usage is not None and not chunk.get("choices") and not wants_usage:
        return None, usage, "", False
    return forward, usage, _reply_text(chunk), False
