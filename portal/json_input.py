"""The one JSON reader of request bodies: the REST API's parser (portal.api), allauth's
headless API (portal.middleware) and the relay (relay/app.py) read bodies through loads().

Python's json module recurses once per nesting level, so `[[[[...` a few thousand deep
raised RecursionError, a 500 before any authentication. loads() measures the nesting first,
in one pass of C-level operations over the bytes (strings removed, brackets counted), and
refuses a body deeper than `max_depth` without parsing it. It also refuses the \\u0000
escape unless told otherwise: PostgreSQL stores no NUL character, so none may come in.
"""

import json
import re
from itertools import accumulate, count
from operator import sub

from django.utils.translation import gettext_lazy as _

MAX_DEPTH = 32  # far above any body of ours; OpenAI's tool schemas stay well within
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# An opening bracket counts 2 and a closing one 0: the depth after n brackets is the sum - n.
_BRACKET_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
# \u0000 in a string: the escape after an even number of backslashes (\\u0000 is text).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


class InvalidJson(ValueError):
    """The body is not a JSON document we read; str() is a message for the caller."""


def depth(raw: bytes) -> int:
    """How deeply the JSON text `raw` (UTF-8) nests arrays and objects."""
    brackets = _STRING.sub(b"", raw).translate(_BRACKET_WEIGHTS, _NOT_BRACKETS)
    return max(map(sub, accumulate(brackets), count(1)), default=0)


def loads(raw: bytes, *, max_depth: int = MAX_DEPTH, allow_nul: bool = False):
    """The value of the UTF-8 JSON text `raw`; InvalidJson if it is not one, nests deeper than
    `max_depth`, or (unless `allow_nul`) holds a NUL character."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise InvalidJson(_("The body must be UTF-8.")) from None
    if len(raw) > max_depth and depth(raw) > max_depth:
        raise InvalidJson(_("The JSON nests more than %(depth)d levels.") % {"depth": max_depth})
    if not allow_nul and _NUL_ESCAPE.search(raw):
        raise InvalidJson(_("The JSON may not contain NUL characters (\\u0000)."))
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError as error:
        raise InvalidJson(_("The body is not valid JSON: %(error)s") % {"error": error}) from None


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")
