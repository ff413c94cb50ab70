"""Secret tokens (API keys, gateway credentials): format, checksum and keyed digest.

A token reads `tpk_` + 8-character lookup id + 43-character secret (32 random bytes of
base62) + 6-character CRC32 checksum, like GitHub's tokens: secret scanners recognise it,
and a mistyped or truncated token is refused without touching the cache or the database.
The `tpk_` + lookup id part is the public `prefix`, stored and shown; the whole token is
stored only as HMAC-SHA256 under a server-side pepper, whose id is kept beside the digest
so that the pepper can be rotated (settings.API_KEY_PEPPERS, API_KEY_PEPPER_ID).
"""

import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from hashlib import sha256

from django.conf import settings

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LOOKUP_LENGTH = 8
SECRET_LENGTH = 43  # 62**43 > 2**256: at least 32 random bytes
CHECKSUM_LENGTH = 6  # 62**6 > 2**32


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


@dataclass(frozen=True)
class TokenFormat:
    kind: str  # "tpk" for API keys, "tpg" for gateway credentials

    def __post_init__(self):
        pattern = (
            rf"({self.kind}_[0-9A-Za-z]{{{LOOKUP_LENGTH}}})"
            rf"[0-9A-Za-z]{{{SECRET_LENGTH}}}[0-9A-Za-z]{{{CHECKSUM_LENGTH}}}"
        )
        object.__setattr__(self, "_pattern", re.compile(pattern))

    def generate(self) -> tuple[str, str]:
        """A new (plaintext, prefix)."""
        body = f"{self.kind}_{_random(LOOKUP_LENGTH)}{_random(SECRET_LENGTH)}"
        return body + _checksum(body), body[: len(self.kind) + 1 + LOOKUP_LENGTH]

    def prefix_of(self, token: str) -> str | None:
        """The lookup prefix of a well-formed token with a correct checksum, else None."""
        match = self._pattern.fullmatch(token)
        if match is None or _checksum(token[:-CHECKSUM_LENGTH]) != token[-CHECKSUM_LENGTH:]:
            return None
        return match.group(1)


API_KEY = TokenFormat("tpk")
GATEWAY_CREDENTIAL = TokenFormat("tpg")


def current_pepper_id() -> str:
    return settings.API_KEY_PEPPER_ID


def digest(token: str, pepper_id: str) -> str:
    pepper = settings.API_KEY_PEPPERS[pepper_id]
    return hmac.new(pepper.encode(), token.encode(), sha256).hexdigest()


def matches(token: str, pepper_id: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    if pepper_id not in settings.API_KEY_PEPPERS:
        return False
    return hmac.compare_digest(digest(token, pepper_id), stored_digest)
