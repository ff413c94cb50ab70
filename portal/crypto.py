"""Encryption at rest for secrets the portal must read back (webhook signing secrets, the
relay's upstream credentials): Fernet (AES-128-CBC + HMAC-SHA256) under FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts. Keys derived from SECRET_KEY always decrypt too
(after the configured ones): outside production, where FIELD_ENCRYPTION_KEYS may be empty,
the "field-encryption" one encrypts; secrets written before FIELD_ENCRYPTION_KEYS was set, and
webhook secrets written before this module ("webhook-secrets" label), still decrypt once an
operator sets it. `manage.py reencrypt_secrets` re-encrypts every stored secret under the
first key: run it after putting a new key first, and before removing an old key or changing
SECRET_KEY.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["ENCRYPTED_FIELDS", "InvalidToken", "decrypt", "encrypt", "reencrypt"]

# Every model field that holds a token of this module ("app_label.Model.field"), for
# reencrypt_secrets; tests/portal/test_crypto.py checks that no *_encrypted field is missing.
ENCRYPTED_FIELDS = (
    "billing.WebhookEndpoint.secret_encrypted",
    "gateway.Channel.credential_encrypted",
)


def _derived(label: str) -> Fernet:
    key = hashlib.sha256(f"{label}:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    configured = [Fernet(key) for key in keys]
    return MultiFernet([*configured, _derived("field-encryption"), _derived("webhook-secrets")])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext; raises InvalidToken if no configured key opens it."""
    return _current().decrypt(token.encode()).decode()


def reencrypt(token: str) -> str:
    """The same plaintext encrypted under the first key; raises InvalidToken like decrypt."""
    return _current().rotate(token.encode()).decode()


def reencrypt_stored_secrets() -> dict[str, tuple[int, int]]:
    """Re-encrypt every stored secret of ENCRYPTED_FIELDS under the first key.

    Returns {field: (re-encrypted, unreadable)}; an unreadable token (no key opens it) is
    left as it is. Each row is written by a conditional UPDATE on its old token, so a secret
    changed meanwhile (already under the first key) is not overwritten.
    """
    from django.apps import apps

    counts = {}
    for label in ENCRYPTED_FIELDS:
        model_label, field = label.rsplit(".", 1)
        rows = apps.get_model(model_label)._base_manager
        done = unreadable = 0
        for pk, token in rows.exclude(**{field: ""}).values_list("pk", field).iterator():
            try:
                fresh = reencrypt(token)
            except InvalidToken:
                unreadable += 1
                continue
            done += rows.filter(pk=pk, **{field: token}).update(**{field: fresh})
        counts[label] = (done, unreadable)
    return counts
