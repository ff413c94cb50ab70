"""Remittance references (识别码): how a bank transfer names the organization that sent it.

A code is "TP" and eight characters from an alphabet without look-alikes (no 0/O, 1/I/L), so it
survives being read aloud or retyped into a bank's memo field; 31^8 codes make guessing useless.
"""

import re
import secrets

from django.db import IntegrityError, transaction

from .models import RemittanceReference

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PREFIX = "TP"
LENGTH = 8
# A code anywhere in a memo, whatever the case and with or without separators the bank added.
_IN_TEXT = re.compile(rf"{PREFIX}[\s-]?([{ALPHABET}]{{{LENGTH}}})(?![{ALPHABET}])", re.IGNORECASE)


def _new_code() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def reference_for(organization) -> str:
    """The organization's code, made on first use."""
    found = RemittanceReference.objects.filter(organization=organization).first()
    if found:
        return found.code
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return RemittanceReference.objects.create(
                    organization=organization, code=_new_code()
                ).code
        except IntegrityError:
            # Another request made this organization's code, or (rarely) the code is taken.
            found = RemittanceReference.objects.filter(organization=organization).first()
            if found:
                return found.code
    raise RuntimeError("could not allocate a remittance reference")


def codes_in(text: str) -> list[str]:
    """The well-formed codes in a bank memo, normalised (upper case, no separator)."""
    return [PREFIX + match.upper() for match in _IN_TEXT.findall(text or "")]


def organization_for(text: str):
    """The organization whose code the memo carries, or None (no code, or an unknown one)."""
    codes = codes_in(text)
    found = RemittanceReference.objects.filter(code__in=codes).select_related("organization")
    return found[0].organization if len(found) == 1 else None
