"""Rounding money: once, to the currency's minor unit, half up (docs/architecture.md)."""

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units of the currencies we bill in; anything else has two.
MINOR_UNITS = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0, "KRW": 0}


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded to the minor unit of `currency`, ROUND_HALF_UP."""
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


# The one money format of every page, email, notification, CSV and PDF (docs/architecture.md):
# the currency's sign before the amount where the sign is unambiguous, else the ISO code after
# it; always the minor unit and a thousands separator, whatever the reader's language.
CURRENCY_SIGNS = {"CNY": "¥", "USD": "US$", "EUR": "€", "HKD": "HK$"}


def format_money(amount, currency: str = "CNY") -> str:
    """`amount` as people read it: format_money(Decimal("-33598.846"), "CNY") == "-¥33,598.85"."""
    rounded = round_money(Decimal(amount), currency)
    digits = f"{abs(rounded):,.{MINOR_UNITS.get(currency, 2)}f}"
    sign = "-" if rounded < 0 else ""
    if currency in CURRENCY_SIGNS:
        return f"{sign}{CURRENCY_SIGNS[currency]}{digits}"
    return f"{sign}{digits} {currency}"
