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


# 大写: the capital numerals a Chinese invoice writes its total in, so that no digit can be
# altered (人民币叁万叁仟伍佰玖拾捌元捌角伍分). Written here rather than taken from a package:
# the rules are a dozen lines and tested (tests/portal/test_money.py).
_CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_GROUP_UNITS = ("", "万", "亿", "万亿")


def _capital_group(number: int) -> str:
    """0 < number < 10000 in capitals; inner zeros read as one 零, trailing zeros as nothing."""
    text, zero_pending = "", False
    for place, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = number // place % 10
        if digit == 0:
            zero_pending = bool(text)
            continue
        if zero_pending:
            text += "零"
            zero_pending = False
        text += _CAPITAL_DIGITS[digit] + unit
    return text


def _capital_integer(number: int) -> str:
    groups = []
    while number:
        number, group = divmod(number, 10000)
        groups.append(group)
    if len(groups) > len(_GROUP_UNITS):
        raise ValueError("amount too large for capital numerals")
    text = ""
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            continue
        # A gap (a zero group, or a group under 1000 after a higher one) is read as 零.
        if text and (group < 1000 or groups[index + 1] == 0):
            text += "零"
        text += _capital_group(group) + _GROUP_UNITS[index]
    return text


def rmb_capitals(amount) -> str:
    """A CNY amount in capital numerals: rmb_capitals(Decimal("10.05")) == "人民币壹拾元零伍分"."""
    rounded = round_money(Decimal(amount), "CNY")
    cents = int(abs(rounded) * 100)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    text = _capital_integer(yuan) + "元" if yuan else ""
    if jiao:
        text += _CAPITAL_DIGITS[jiao] + "角"
    elif fen and yuan:
        text += "零"
    if fen:
        text += _CAPITAL_DIGITS[fen] + "分"
    else:
        text += "整" if text else "零元整"
    return "人民币" + ("负" if rounded < 0 else "") + text


def format_unit_price(price, currency: str = "CNY") -> str:
    """A rate per unit (per million tokens, per request) as format_money shows money, but
    to four decimal places where it has them: ¥2.00, ¥0.035, ¥0.0015."""
    exact = Decimal(price).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize()
    places = max(MINOR_UNITS.get(currency, 2), -exact.as_tuple().exponent)
    digits = f"{abs(exact):,.{places}f}"
    sign = "-" if exact < 0 else ""
    if currency in CURRENCY_SIGNS:
        return f"{sign}{CURRENCY_SIGNS[currency]}{digits}"
    return f"{sign}{digits} {currency}"
