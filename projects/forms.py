from django import forms
from django.utils.translation import gettext_lazy as _

from projects.models import ApiKey, Project


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "department"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, departments, department_required: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments
        self.fields["department"].required = department_required


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class ApiKeyForm(forms.ModelForm):
    """The key's settings; the lists are edited one entry per line."""

    allowed_models = forms.CharField(
        label=_("Allowed models"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocapitalize": "off", "spellcheck": "false"}),
        help_text=_(
            "Catalog model ids, one per line. Empty: every model the organization may use."
        ),
    )
    ip_allowlist = forms.CharField(
        label=_("IP allowlist"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocapitalize": "off", "spellcheck": "false"}),
        help_text=_(
            "Up to 20 IPv4 or IPv6 addresses or CIDR ranges, one per line. Empty: any address."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "expires_at", "rpm_limit", "tpm_limit"]
        widgets = {
            "expires_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            )
        }
        help_texts = {
            "rpm_limit": _(
                "Requests per minute; further requests are refused until the next minute. "
                "Empty: no limit."
            ),
            "tpm_limit": _(
                "Tokens per minute; once reached, calls are refused until the next minute. "
                "Empty: no limit."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["allowed_models"] = "\n".join(self.instance.allowed_models)
            self.initial["ip_allowlist"] = "\n".join(self.instance.ip_allowlist)

    def clean_allowed_models(self):
        return _lines(self.cleaned_data["allowed_models"])

    def clean_ip_allowlist(self):
        return _lines(self.cleaned_data["ip_allowlist"])

    def key_settings(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.fields}


class RotateForm(forms.Form):
    GRACE_CHOICES = [
        (0, _("None: the old key stops now")),
        (1, _("1 hour")),
        (24, _("24 hours")),
        (168, _("7 days")),
    ]
    grace_hours = forms.TypedChoiceField(
        label=_("The old key keeps working for"), choices=GRACE_CHOICES, coerce=int, initial=24
    )
