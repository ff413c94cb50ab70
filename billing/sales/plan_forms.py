from django import forms
from django.utils.translation import gettext_lazy as _

from billing.sales.forms import BALANCE, ONLINE, TRANSFER, online_payments_available

NEXT_PERIOD, NOW = "next_period", "now"


class PlanPayForm(forms.Form):
    pay = forms.ChoiceField(
        label=_("Pay the fee"),
        widget=forms.RadioSelect,
        choices=[
            (BALANCE, _("Now, from the prepaid balance")),
            (
                TRANSFER,
                _("By bank transfer (the allowance is granted when the transfer is matched)"),
            ),
            (ONLINE, _("Online: WeChat Pay or Alipay")),
        ],
        initial=BALANCE,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not online_payments_available():
            self.fields["pay"].choices = self.fields["pay"].choices[:2]


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
