"""`{{ amount|money:currency }}`: the one money format (portal.money.format_money)."""

from django import template

from portal.money import format_money

register = template.Library()


@register.filter(name="money")
def money(amount, currency="CNY"):
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency or "CNY")
