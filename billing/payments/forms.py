from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

PROVIDER_LABELS = {"wechat": _("WeChat Pay"), "alipay": _("Alipay")}


class PaymentForm(forms.Form):
    """A top-up (amount) or, with `invoice` set by the view, the payment of an invoice."""

    provider = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=14,
        decimal_places=2,
        min_value=settings.PAYMENT_MIN_AMOUNT,
        max_value=settings.PAYMENT_MAX_AMOUNT,
    )

    def __init__(self, *args, providers, invoice=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [(code, PROVIDER_LABELS.get(code, code))
                                           for code in providers]  # fmt: skip
        if invoice is not None:
            del self.fields["amount"]
