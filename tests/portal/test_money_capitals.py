"""大写: the capital numerals of an invoice total."""

from decimal import Decimal

import pytest

from portal.money import format_unit_price, rmb_capitals


@pytest.mark.parametrize(
    ("amount", "capitals"),
    [
        ("0", "人民币零元整"),
        ("0.05", "人民币伍分"),
        ("0.50", "人民币伍角整"),
        ("10.05", "人民币壹拾元零伍分"),
        ("20.00", "人民币贰拾元整"),
        ("1010", "人民币壹仟零壹拾元整"),
        ("1001.10", "人民币壹仟零壹元壹角整"),
        ("10100", "人民币壹万零壹佰元整"),
        ("100000", "人民币壹拾万元整"),
        ("1000001", "人民币壹佰万零壹元整"),
        ("100001000", "人民币壹亿零壹仟元整"),
        ("33598.85", "人民币叁万叁仟伍佰玖拾捌元捌角伍分"),
        ("33598.846", "人民币叁万叁仟伍佰玖拾捌元捌角伍分"),  # rounded half up first
        ("-5.20", "人民币负伍元贰角整"),  # a credit note
        ("1000000000000.01", "人民币壹万亿元零壹分"),
    ],
)
def test_capitals(amount, capitals):
    assert rmb_capitals(Decimal(amount)) == capitals


def test_an_amount_beyond_the_units_is_refused():
    with pytest.raises(ValueError):
        rmb_capitals(Decimal("10") ** 16)


@pytest.mark.parametrize(
    ("price", "currency", "shown"),
    [("2", "CNY", "¥2.00"), ("0.035", "CNY", "¥0.035"), ("0.0015", "CNY", "¥0.0015"),
     ("1234.5", "USD", "US$1,234.50")],
)  # fmt: skip
def test_unit_prices_keep_four_places(price, currency, shown):
    assert format_unit_price(Decimal(price), currency) == shown
