from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Department
from billing.catalog.models import CatalogModel, ModelPolicy, Provider


class CalculatorForm(forms.Form):
    input_tokens = forms.IntegerField(label=_("Input tokens"), min_value=0, initial=1_000_000)
    output_tokens = forms.IntegerField(label=_("Output tokens"), min_value=0, initial=1_000_000)
    cached_input_tokens = forms.IntegerField(
        label=_("Cached input tokens"), min_value=0, initial=0, required=False
    )
    cache_write_tokens = forms.IntegerField(
        label=_("Cache write tokens"), min_value=0, initial=0, required=False
    )


class ModelPolicyForm(forms.ModelForm):
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(),
        to_field_name="public_id",
        required=False,
        label=_("Department"),
        empty_label=_("Whole organization"),
    )
    catalog_models = forms.ModelMultipleChoiceField(
        queryset=CatalogModel.objects.select_related("provider"),
        to_field_name="model_id",
        required=False,
        label=_("Models"),
        widget=forms.SelectMultiple(attrs={"size": 10}),
    )
    providers = forms.ModelMultipleChoiceField(
        queryset=Provider.objects.all(),
        to_field_name="slug",
        required=False,
        label=_("Providers"),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = ModelPolicy
        fields = ["department", "mode", "catalog_models", "providers", "filed_only"]

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization
        self.fields["department"].queryset = Department.objects.for_org(organization)
