"""A fake upstream provider speaking the OpenAI protocol: a real HTTP server on 127.0.0.1
(uvicorn, in a thread of the test process or a process of its own for the benchmark).

Each call takes the next behaviour of `plan` (then `default`):
  "ok"         answers with a usage object (streams: a final usage chunk when asked)
  "no_usage"   answers without any usage
  "cache_write"  as "ok", its usage also reporting cache writes (OpenRouter's shape)
  "500"/"400"  an error in OpenAI's shape with that status
  "slow"       sleeps `slow_seconds` before answering (past the relay's read timeout)
  "trickle"    streams one content chunk, then waits `slow_seconds` before the rest
  "nested"     answers (or streams an event holding) JSON nested 100,000 levels deep
"""

import asyncio
import base64
import contextlib
import json
import struct
import threading
import time

import uvicorn

PROMPT_TOKENS, CACHED_TOKENS = 11, 4  # OpenAI's prompt_tokens include the cached ones
CACHE_WRITE_TOKENS = 5  # ... and, in OpenRouter's usage, the cache writes
CONTENT = ["Hello", " world", "!"]
EMBEDDING = [0.25, -0.5, 0.125]
NESTED = b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


class FakeUpstream:
    def __init__(self, name: str = "upstream", default: str = "ok", slow_seconds: float = 3.0):
        self.name, self.default, self.slow_seconds = name, default, slow_seconds
        self.plan: list[str] = []
        self.received: list[dict] = []  # {"path", "authorization", "body"}

    def behaviour(self) -> str:
        return self.plan.pop(0) if self.plan else self.default

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        body = json.loads(raw) if raw else {}
        path = scope["path"].removeprefix("/v1")
        self.received.append(
            {"path": path, "authorization": headers.get(b"authorization", b"").decode(),
             "body": body}
        )  # fmt: skip
        behaviour = self.behaviour()
        if behaviour in ("500", "400"):
            error = {"error": {"message": f"{self.name} says {behaviour}", "type": "test",
                               "code": f"fake_{behaviour}"}}  # fmt: skip
            return await _json(send, int(behaviour), error)
        if behaviour == "nested" and not body.get("stream"):
            return await _raw(send, 200, NESTED)
        if behaviour == "slow":
            await asyncio.sleep(self.slow_seconds)
        usage = None if behaviour == "no_usage" else _usage(behaviour == "cache_write")
        if body.get("stream"):
            wanted = (body.get("stream_options") or {}).get("include_usage")
            return await self._stream(send, body, usage if wanted else None, behaviour)
        return await _json(send, 200, self.answer(path, body, usage))

    def answer(self, path: str, body: dict, usage: dict | None) -> dict:
        model = body.get("model")
        if path == "/embeddings":
            vector = EMBEDDING
            if body.get("encoding_format") == "base64":  # the JavaScript SDK's default
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data = [{"object": "embedding", "index": 0, "embedding": vector}]
            answer = {"object": "list", "model": model, "data": data}
            if usage:
                answer["usage"] = {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS}
            return answer
        text = "".join(CONTENT)
        if path == "/completions":
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            kind = "text_completion"
        else:
            choice = {"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": text}}  # fmt: skip
            kind = "chat.completion"
        answer = {"id": f"{self.name}-1", "object": kind, "created": int(time.time()),
                  "model": model, "choices": [choice]}  # fmt: skip
        if usage:
            answer["usage"] = usage
        return answer

    async def _stream(self, send, body, usage, behaviour):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})  # fmt: skip
        base = {"id": f"{self.name}-1", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model")}  # fmt: skip

        async def event(data):
            payload = data if isinstance(data, str) else json.dumps(data)
            await send({"type": "http.response.body", "body": f"data: {payload}\n\n".encode(),
                        "more_body": True})  # fmt: skip

        await event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        for number, piece in enumerate(CONTENT):
            if behaviour == "trickle" and number == 1:
                await asyncio.sleep(self.slow_seconds)
            delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            await event({**base, "choices": [delta]})
        if behaviour == "nested":
            await event(NESTED.decode())
        await event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if usage:
            await event({**base, "choices": [], "usage": usage})
        await event("[DONE]")
        await send({"type": "http.response.body", "body": b""})


def _usage(cache_write: bool = False) -> dict:
    completion = len(CONTENT)
    details = {"cached_tokens": CACHED_TOKENS}
    if cache_write:
        details["cache_write_tokens"] = CACHE_WRITE_TOKENS
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": details,
    }


async def _json(send, status: int, body: dict):
    await _raw(send, status, json.dumps(body).encode())


async def _raw(send, status: int, content: bytes):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": content})


@contextlib.contextmanager
def serve(app, port: int, **config):
    """Serve the ASGI `app` on 127.0.0.1:`port` in a thread; yield the base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
