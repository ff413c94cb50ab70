"""The key quickstart works as printed: the page shown once after a key is made is rendered,
its examples (curl, the openai Python SDK, the openai npm SDK) are run as a developer would
copy them, against the live relay and a fake upstream; each answers, and each call is billed
to the new key."""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from billing.catalog.models import CatalogModel
from billing.metering.models import UsageEvent
from projects.models import ApiKey
from tests.conftest import wait_for
from tests.factories import CatalogModelFactory
from tests.relay.conftest import EMBEDDING_MODEL, MODEL, assert_billed
from tests.relay.fake_upstream import CACHED_TOKENS, CONTENT, PROMPT_TOKENS

ROOT = Path(__file__).resolve().parents[2]
UNSERVED = "aaa/first-by-name"


def snippet(page: str, name: str) -> str:
    """The text of a quickstart code block, as the copy button copies it."""
    block = re.search(rf'<pre id="qs-{name}"[^>]*>(.*?)</pre>', page, re.DOTALL)
    assert block, f"no {name} example on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", block.group(1)))


@pytest.fixture
def created_page(relay_world, upstreams, settings):
    """(page, key): the show-once page of a key made in the portal, the relay as its URL."""
    settings.RELAY_PUBLIC_URL = relay_world.relay
    relay_world.channel("a", upstreams.a)
    CatalogModel.objects.filter(model_id=EMBEDDING_MODEL).update(kind=CatalogModel.Kind.EMBEDDING)
    CatalogModelFactory(model_id=UNSERVED)  # a chat model no channel serves
    client = Client()
    client.force_login(relay_world.owner.user)
    response = client.post(
        f"/projects/{relay_world.project.public_id}/keys/new/", {"name": "Quickstart"}
    )
    assert response.status_code == 200
    return response.content.decode(), ApiKey.objects.get(name="Quickstart")


def run(shell: str, cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell], cwd=cwd, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_each_call_billed(world, key, calls: int):
    def billed():
        """every call's usage event is stored"""
        events = list(UsageEvent.objects.filter(api_key=key))
        return events if len(events) == calls else None

    for event in wait_for(billed, timeout=15, interval=0.05):
        assert event.model == world.model
        assert_billed(
            world, event, input_tokens=PROMPT_TOKENS - CACHED_TOKENS, output_tokens=len(CONTENT),
            cached=CACHED_TOKENS,
        )  # fmt: skip


def test_the_copied_examples_call_the_relay_and_are_billed(
    relay_world, upstreams, created_page, tmp_path
):
    page, key = created_page
    env_line = snippet(page, "env")
    assert ApiKey.objects.get(pk=key.pk).prefix in env_line  # the new key itself, filled in
    assert relay_world.relay in page
    # The picker offers the chat models the key may call, those the relay serves first: the
    # examples use the first.
    picker = re.search(r'<select id="qs-model".*?</select>', page, re.DOTALL).group(0)
    assert re.findall(r'<option value="([^"]+)"', picker) == [MODEL, UNSERVED]
    text = "".join(CONTENT)

    answer = json.loads(run(f"{env_line}\n{snippet(page, 'curl')}", tmp_path))
    assert answer["choices"][0]["message"]["content"] == text

    (tmp_path / "quickstart.py").write_text(snippet(page, "python"))
    assert run(f"{env_line}\n{sys.executable} quickstart.py", tmp_path).strip() == text

    node = shutil.which("node")
    assert node and (ROOT / "node_modules" / "openai").is_dir(), "node and npm ci are needed"
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    (tmp_path / "quickstart.mjs").write_text(snippet(page, "js"))
    assert run(f"{env_line}\n{node} quickstart.mjs", tmp_path).strip() == text

    assert_each_call_billed(relay_world, key, calls=3)
    assert [call["body"]["model"] for call in upstreams.a.received] == ["deepseek-chat"] * 3
