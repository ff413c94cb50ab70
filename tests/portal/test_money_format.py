"""The one money format: sign, thousands separators, minor unit, half-up rounding."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from portal.money import format_money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("33598.85"), "CNY", "¥33,598.85"),
        (Decimal("-116.745"), "CNY", "-¥116.75"),
        (Decimal("0.004"), "CNY", "¥0.00"),
        (Decimal("1234567.5"), "JPY", "1,234,568 JPY"),
        (Decimal("12.5"), "USD", "US$12.50"),
        (Decimal("12.5"), "GBP", "12.50 GBP"),
    ],
)
def test_money_is_shown_one_way(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_the_template_filter_uses_the_same_format():
    rendered = Template("{% load money %}{{ amount|money:'CNY' }}|{{ none|money }}").render(
        Context({"amount": Decimal("1000"), "none": None})
    )
    assert rendered == "¥1,000.00|"
