"""Rounding money: once, to the currency's minor unit, half up (docs/architecture.md)."""

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units of the currencies we bill in; anything else has two.
MINOR_UNITS = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0, "KRW": 0}


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded to the minor unit of `currency`, ROUND_HALF_UP."""
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
