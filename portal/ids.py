"""Opaque public identifiers ("org_3kq9x2m4p7a1b8c5") for URLs and API payloads, and the one
grammar of the ids customers send: public ids and catalog model ids.

Sequential integer keys stay inside the database; customers never see how many
other customers, keys or invoices exist. Anything outside the grammar names nothing: paths
that take an id (the `public_id` and `model_id` path converters, registered in
portal.apps) do not match it (404), and API fields that take one (portal.api) refuse it as
unknown (400) without a query, so no NUL byte or megabyte-long "id" reaches the database.
"""

import base64
import re
import secrets

from django.db import models

RANDOM_BYTES = 10  # 16 characters of lower-case base32
# A prefix of 2 to 4 letters, then the random part (base32: a-z and 2-7, no padding).
PUBLIC_ID = re.compile(r"[a-z]{2,4}_[a-z2-7]{16}")
# Catalog model ids and aliases ("qwen/qwen2.5-72b-instruct", "openai/gpt-4o:extended"):
# printable ASCII without spaces, as long as the catalog's column.
MODEL_ID = re.compile(r"[!-~]{1,150}")


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{base64.b32encode(secrets.token_bytes(RANDOM_BYTES)).decode().lower()}"


def is_public_id(value) -> bool:
    return isinstance(value, str) and PUBLIC_ID.fullmatch(value) is not None


def is_model_id(value) -> bool:
    return isinstance(value, str) and MODEL_ID.fullmatch(value) is not None


class PublicIdConverter:
    """`<public_id:project>` in a route."""

    regex = PUBLIC_ID.pattern

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class ModelIdConverter(PublicIdConverter):
    """`<model_id:model_id>` in a route: a model id or alias, slashes included."""

    regex = MODEL_ID.pattern


class PublicIdField(models.CharField):
    """A unique, immutable, prefixed random id, assigned on first save (bulk_create too)."""

    def __init__(self, *args, prefix: str, **kwargs):
        self.prefix = prefix
        kwargs.update(max_length=40, unique=True, editable=False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for fixed in ("max_length", "unique", "editable"):
            kwargs.pop(fixed, None)
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        if not getattr(model_instance, self.attname):
            setattr(model_instance, self.attname, new_public_id(self.prefix))
        return super().pre_save(model_instance, add)
