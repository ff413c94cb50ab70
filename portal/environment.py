"""Reading configuration from the environment, strictly.

A typo in a boolean ("ture", "yes please") must stop startup instead of silently
meaning False, and every secret can come from a file (NAME_FILE) so that container
secrets never sit in the process environment.
"""

import os

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.FileAwareEnv()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}.")
