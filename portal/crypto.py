"""Encryption at rest for secrets the portal must read back (webhook signing secrets, the
relay's upstream credentials): Fernet (AES-128-CBC + HMAC-SHA256) under FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a key is rotated by putting a new one first
and re-saving the secrets. Without FIELD_ENCRYPTION_KEYS the key is derived from SECRET_KEY.
Secrets written before this module (webhook secrets, under a key derived from SECRET_KEY with
the "webhook-secrets" label) still decrypt.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt"]


def _derived(label: str) -> Fernet:
    key = hashlib.sha256(f"{label}:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    primary = [Fernet(key) for key in keys] or [_derived("field-encryption")]
    return MultiFernet([*primary, _derived("webhook-secrets")])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext; raises InvalidToken if no configured key opens it."""
    return _current().decrypt(token.encode()).decode()
