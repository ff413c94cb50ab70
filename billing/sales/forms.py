from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

BALANCE, TRANSFER, ONLINE = "balance", "transfer", "online"


def online_payments_available() -> bool:
    """Some provider is fully configured (as billing.payments.gateway.configured() says; that
    floor is above this one)."""
    return any(all(p["options"].values()) for p in settings.PAYMENT_PROVIDERS.values())


class BuyPackForm(forms.Form):
    """How to pay; nothing to ask `on_operator_bill` (the consolidated bill charges it)."""

    pay = forms.ChoiceField(
        label=_("Pay"),
        widget=forms.RadioSelect,
        choices=[
            (BALANCE, _("Now, from the prepaid balance")),
            (TRANSFER, _("By bank transfer (the pack is granted when the transfer is matched)")),
            (ONLINE, _("Online: WeChat Pay or Alipay")),
        ],
        initial=BALANCE,
    )

    def __init__(self, *args, on_operator_bill=False, **kwargs):
        super().__init__(*args, **kwargs)
        if on_operator_bill:
            del self.fields["pay"]
        elif not online_payments_available():
            self.fields["pay"].choices = self.fields["pay"].choices[:2]


class AllocateForm(forms.Form):
    department = forms.ModelChoiceField(
        label=_("Allocated to"),
        queryset=None,
        required=False,
        empty_label=_("The whole organization"),
        help_text=_("Keys of this department and the departments below it draw the pack first."),
    )

    def __init__(self, *args, departments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments
        self.fields["department"].to_field_name = "public_id"
        self.fields["department"].label_from_instance = lambda department: department.name
