from django import forms

from billing.invoicing.models import BalanceAlert, FapiaoProfile


class FapiaoProfileForm(forms.ModelForm):
    class Meta:
        model = FapiaoProfile
        fields = ["title", "taxpayer_id", "fapiao_type", "bank_name", "bank_account",
                  "registered_address", "registered_phone"]  # fmt: skip


class BalanceAlertForm(forms.ModelForm):
    class Meta:
        model = BalanceAlert
        fields = ["threshold_amount"]
