from django import forms

from billing.invoicing.models import BalanceAlert, FapiaoProfile


class FapiaoProfileForm(forms.ModelForm):
    class Meta:
        model = FapiaoProfile
        fields = FapiaoProfile.DETAILS


class BalanceAlertForm(forms.ModelForm):
    class Meta:
        model = BalanceAlert
        fields = ["threshold_amount"]
