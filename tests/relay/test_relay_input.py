"""Deeply nested JSON on the relay (issue 20, finding 4): Python's parser recursed once per
level and raised RecursionError, a 500 for any bearer token. The relay now refuses a
malformed key before it reads the body, and answers a bad body only after the key passed:
a stranger gets 401 whatever they send, a customer a 400 in OpenAI's error shape."""

import json

import httpx
import pytest

from projects.models import ApiKey
from tests.portal.test_nested_json import ATTACKS
from tests.relay.conftest import MODEL


class TestRelay:
    """The relay's /v1/chat/completions, live (uvicorn, as in production)."""

    def post(self, relay_world, key, body):
        return httpx.post(
            f"{relay_world.relay}/chat/completions", content=body,
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
            timeout=20,
        )  # fmt: skip

    @pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
    def test_an_unknown_key_gets_401_and_a_good_key_an_openai_400(self, relay_world, attack):
        unknown = ApiKey.token_format.generate()[0]  # well formed, checksum right, no such key
        for key in [unknown, "sk-not-even-a-portal-key"]:
            response = self.post(relay_world, key, attack)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"
        response = self.post(relay_world, relay_world.key(), attack)
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_json")

    def test_a_tool_schema_of_ordinary_depth_still_passes_the_parser(self, relay_world):
        schema = {"type": "object"}
        for _ in range(12):  # nested parameters, deeper than any real tool's
            schema = {"type": "object", "properties": {"inner": schema}}
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
        }
        response = self.post(relay_world, relay_world.key(), json.dumps(body))
        # No channel serves the model in this world: refused after the body was read.
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_not_found"
