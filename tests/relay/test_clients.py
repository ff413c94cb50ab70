"""Other clients than the openai Python SDK against the live relay: the official JavaScript
SDK (Node.js, npm "openai" from package-lock.json: `make test` runs `npm ci`) and LangChain's
langchain-openai. Without node or node_modules/openai the JavaScript test fails rather than
skips: CI has both."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from billing.metering.models import UsageEvent
from tests.conftest import wait_for
from tests.relay.conftest import EMBEDDING_MODEL, MODEL, assert_billed, usage_event
from tests.relay.fake_upstream import CACHED_TOKENS, CONTENT, EMBEDDING, PROMPT_TOKENS

ROOT = Path(__file__).resolve().parents[2]
JS_CLIENT = Path(__file__).with_name("js_client.mjs")


def assert_chat_billed(world, request_id):
    """Billed exactly from the upstream's usage (its final chunk, for a stream)."""
    assert_billed(
        world, usage_event(request_id), input_tokens=PROMPT_TOKENS - CACHED_TOKENS,
        output_tokens=len(CONTENT), cached=CACHED_TOKENS,
    )  # fmt: skip


def test_the_official_javascript_sdk(relay_world, upstreams):
    node = shutil.which("node")
    assert node, "node is missing: Node.js 20 or later"
    assert (ROOT / "node_modules" / "openai").is_dir(), "npm ci (make test does it)"
    relay_world.channel("a", upstreams.a)
    env = {
        **os.environ,
        "RELAY_URL": relay_world.relay,
        "PORTAL_KEY": relay_world.key(),
        "REFUSED_KEY": relay_world.key(allowed_models=[EMBEDDING_MODEL]),
        "CHAT_MODEL": MODEL,
        "EMBEDDING_MODEL": EMBEDDING_MODEL,
    }

    run = subprocess.run(
        [node, str(JS_CLIENT)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    text = "".join(CONTENT)
    assert out["chat"]["text"] == text
    assert out["chat"]["usage"]["prompt_tokens"] == PROMPT_TOKENS
    assert out["stream"]["text"] == text
    assert out["stream"]["usage"]["completion_tokens"] == len(CONTENT)  # asked for, so passed on
    assert out["embedding"]["vector"] == EMBEDDING
    assert upstreams.a.received[2]["body"]["encoding_format"] == "base64"  # the SDK's default
    assert sorted(out["models"]) == sorted([MODEL, EMBEDDING_MODEL])
    assert out["retrieved"] == MODEL
    assert out["refusal"] == {
        "name": "PermissionDeniedError", "permissionDenied": True, "status": 403,
        "code": "model_not_allowed", "type": "permission_error",
    }  # fmt: skip
    assert len(upstreams.a.received) == 3, "the refused call reached no upstream"

    assert_chat_billed(relay_world, out["chat"]["requestId"])
    assert_chat_billed(relay_world, out["stream"]["requestId"])
    embedding_event = usage_event(out["embedding"]["requestId"])
    assert embedding_event.model == relay_world.embedding_model
    assert_billed(relay_world, embedding_event, input_tokens=PROMPT_TOKENS, output_tokens=0)
    assert UsageEvent.objects.count() == 3


def test_langchain_chat_stream_and_embeddings(relay_world, upstreams):
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    relay_world.channel("a", upstreams.a)
    key = relay_world.key()
    chat = ChatOpenAI(
        model=MODEL, base_url=relay_world.relay, api_key=key, max_retries=0, timeout=20,
        include_response_headers=True,
    )  # fmt: skip

    reply = chat.invoke("Say hello to the world.")
    assert reply.content == "".join(CONTENT)
    assert reply.usage_metadata["input_tokens"] == PROMPT_TOKENS
    assert_chat_billed(relay_world, reply.response_metadata["headers"]["x-request-id"])

    # LangChain asks no usage of a base_url it does not know (stream_usage off): the relay asks
    # the upstream itself, keeps that chunk from the caller and bills from it.
    chunks = list(chat.stream("Say hello to the world."))
    assert "".join(chunk.content for chunk in chunks) == "".join(CONTENT)
    assert all(chunk.usage_metadata is None for chunk in chunks)
    stream_ids = {c.response_metadata.get("headers", {}).get("x-request-id") for c in chunks}
    [stream_id] = stream_ids - {None}
    assert_chat_billed(relay_world, stream_id)

    embeddings = OpenAIEmbeddings(
        model=EMBEDDING_MODEL, base_url=relay_world.relay, api_key=key, max_retries=0,
        check_embedding_ctx_length=False,  # send the text: not every upstream takes token ids
    )  # fmt: skip
    assert embeddings.embed_query("some text") == EMBEDDING
    assert upstreams.a.received[-1]["body"]["input"] == ["some text"]

    def embedding_billed():
        """the embedding call's usage event is stored"""
        return UsageEvent.objects.filter(model=relay_world.embedding_model).first()

    assert_billed(
        relay_world, wait_for(embedding_billed, timeout=15, interval=0.05),
        input_tokens=PROMPT_TOKENS, output_tokens=0,
    )  # fmt: skip
    assert UsageEvent.objects.count() == 3
