from django import forms
from django.utils.translation import gettext_lazy as _

from billing.sales.forms import TRANSFER, BuyPackForm

NEXT_PERIOD, NOW = "next_period", "now"


class PlanPayForm(BuyPackForm):
    """How to pay a plan's fee: as a pack's price, the allowance coming with the payment."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pay = self.fields.get("pay")
        if pay is None:  # on the operator's bill
            return
        pay.label = _("Pay the fee")
        by_transfer = _("By bank transfer (the allowance is granted when the transfer is matched)")
        pay.choices = [
            (value, by_transfer if value == TRANSFER else label) for value, label in pay.choices
        ]


class ChangePlanForm(PlanPayForm):
    when = forms.ChoiceField(
        label=_("From"),
        widget=forms.RadioSelect,
        choices=[
            (NEXT_PERIOD, _("The next fee period (no charge now)")),
            (NOW, _("Now: pay the fee difference for the rest of the period (upgrades only)")),
        ],
        initial=NEXT_PERIOD,
    )
    field_order = ["when", "pay"]


class RenewalForm(forms.Form):
    auto_renew = forms.BooleanField(required=False)
