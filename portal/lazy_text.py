"""Texts kept to be translated when read: a lazy translation (gettext_lazy, format_lazy, a lazy
"%" interpolation...) as JSON, its message ids and parameters, rendered later in the reader's
language. A notification is written by a worker in one language and read in another.

    stored = dump(format_lazy(_("Quota exceeded: {target}"), target=label))
    render(stored)  # in the active language
"""

import operator
from datetime import date, datetime
from decimal import Decimal

from django.utils import formats
from django.utils.functional import Promise, lazy
from django.utils.text import _format_lazy
from django.utils.translation import get_language, gettext, ngettext, npgettext, pgettext


def _localized_date(value: date) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT")


# A date rendered in the reader's language: lazy_date(invoice_due_date).
lazy_date = lazy(_localized_date, str)


def _by_language(english: str, chinese: str) -> str:
    return chinese if chinese and (get_language() or "").startswith("zh") else english


# A name kept in both languages (an offer's), in the reader's: by_language(name_en, name_zh).
by_language = lazy(_by_language, str)

# The lazy functions whose calls can be stored, by a name that stays stable in the database.
FUNCTIONS = {
    "gettext": gettext,
    "ngettext": ngettext,
    "pgettext": pgettext,
    "npgettext": npgettext,
    "format": _format_lazy,
    "percent": operator.mod,
    "date": _localized_date,
    "by_language": _by_language,
}
_NAMES = {function: name for name, function in FUNCTIONS.items()}


def dump(value):
    """`value` as JSON that `render` turns back into text; what cannot be kept lazy (a model
    object, an unknown lazy function) is rendered now."""
    if isinstance(value, Promise):
        function, args, kwargs = value.__reduce__()[1][:3]
        name = _NAMES.get(function)
        if name is None:
            return str(value)
        return {"call": name, "args": [dump(a) for a in args], "kwargs": _dump_dict(kwargs)}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime):
        return str(value)
    if isinstance(value, date):
        return {"iso_date": value.isoformat()}
    if isinstance(value, dict):
        return {"dict": _dump_dict(value)}
    if isinstance(value, (list, tuple)):
        return {"tuple": [dump(item) for item in value]}
    return str(value)


def _dump_dict(values: dict) -> dict:
    return {str(key): dump(item) for key, item in values.items()}


def _load(value):
    if not isinstance(value, dict):
        return value
    if "call" in value:
        function = FUNCTIONS[value["call"]]
        args = [_load(a) for a in value["args"]]
        return function(*args, **{key: _load(item) for key, item in value["kwargs"].items()})
    if "decimal" in value:
        return Decimal(value["decimal"])
    if "iso_date" in value:
        return date.fromisoformat(value["iso_date"])
    if "dict" in value:
        return {key: _load(item) for key, item in value["dict"].items()}
    if "tuple" in value:
        return tuple(_load(item) for item in value["tuple"])
    raise ValueError(f"not a stored text: {value!r}")


def render(stored) -> str:
    """The text `stored` (from `dump`) in the active language."""
    return str(_load(stored))
