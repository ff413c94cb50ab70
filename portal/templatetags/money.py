"""`{{ amount|money:currency }}`: the one money format (portal.money.format_money);
`{{ price|unit_price:currency }}` for prices per million tokens (format_unit_price)."""

from django import template

from portal.money import format_money, format_unit_price

register = template.Library()


@register.filter(name="money")
def money(amount, currency="CNY"):
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency or "CNY")


@register.filter(name="unit_price")
def unit_price(amount, currency="CNY"):
    if amount is None or amount == "":
        return ""
    return format_unit_price(amount, currency or "CNY")
