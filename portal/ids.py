"""Opaque public identifiers ("org_3kq9x2m4p7a1b8c5") for URLs and API payloads.

Sequential integer keys stay inside the database; customers never see how many
other customers, keys or invoices exist.
"""

import base64
import secrets

from django.db import models


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{base64.b32encode(secrets.token_bytes(10)).decode().lower()}"


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
