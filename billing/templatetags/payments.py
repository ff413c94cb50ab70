from django import template

from billing.payments import gateway
from billing.payments.models import Payment

register = template.Library()
RECENT = 5


@register.simple_tag
def payment_providers() -> list[str]:
    """The codes of the providers configured on this portal (none: no "Pay online")."""
    return list(gateway.configured())


@register.simple_tag(takes_context=True)
def recent_payments(context):
    """The member's organization's latest online payments, for the billing page."""
    view = context["view"]
    return Payment.objects.for_member(view.membership, view.action).select_related("invoice")[
        :RECENT
    ]
