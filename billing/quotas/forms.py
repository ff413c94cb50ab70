from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, User
from accounts.permissions import Action
from billing.quotas.models import Quota, parse_thresholds
from projects.models import ApiKey, Project


class ThresholdsField(forms.CharField):
    """ "50, 80, 100" <-> [50, 80, 100]."""

    def prepare_value(self, value):
        return ", ".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value):
        return parse_thresholds(str(value or "").split(","))


class QuotaForm(forms.ModelForm):
    department = forms.ModelChoiceField(
        Department.objects.none(), to_field_name="public_id", required=False,
        label=_("Department"),
    )  # fmt: skip
    project = forms.ModelChoiceField(
        Project.objects.none(), to_field_name="public_id", required=False, label=_("Project")
    )
    api_key = forms.ModelChoiceField(
        ApiKey.objects.none(), to_field_name="public_id", required=False, label=_("API key")
    )
    thresholds = ThresholdsField(
        label=_("Alert thresholds (%)"), initial="50, 80, 100",
        help_text=_("Comma-separated percentages of the limit, e.g. 50, 80, 100."),
    )  # fmt: skip
    watchers = forms.ModelMultipleChoiceField(
        User.objects.none(), required=False, label=_("Watchers"),
        help_text=_("Members who also receive this quota's alerts."),
    )  # fmt: skip

    class Meta:
        model = Quota
        fields = [
            "scope", "department", "project", "api_key", "metric", "period", "start_date",
            "end_date", "limit", "thresholds", "on_exceed", "watchers",
        ]  # fmt: skip
        widgets = {
            "start_date": forms.DateInput(attrs={"type": "date"}),
            "end_date": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, membership, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        organization = membership.organization
        self.fields["department"].queryset = Department.objects.for_org(organization)
        # Only what the member may set a quota on (managers: their subtrees' projects, keys).
        self.fields["project"].queryset = Project.objects.for_member(
            membership, Action.MANAGE_QUOTAS
        )
        self.fields["api_key"].queryset = ApiKey.objects.for_member(
            membership, Action.MANAGE_QUOTAS
        ).select_related("project")
        self.fields["watchers"].queryset = User.objects.filter(
            memberships__organization=organization
        )
        if editing:  # what a quota applies to never changes: make a new one instead
            for name in ("scope", "department", "project", "api_key"):
                del self.fields[name]

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope and scope != Quota.Scope.ORGANIZATION and not data.get(scope):
            raise ValidationError({scope: _("Choose what the quota applies to.")})
        return data

    def service_values(self) -> dict:
        data = dict(self.cleaned_data)
        scope = data.pop("scope", None)
        targets = {name: data.pop(name, None) for name in ("department", "project", "api_key")}
        if scope is not None:
            data.update(scope=scope, target=targets.get(scope))
        return data


class IncreaseRequestForm(forms.Form):
    new_limit = forms.DecimalField(label=_("New limit"), max_digits=20, decimal_places=2)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class DecisionForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), required=False, max_length=1000)
