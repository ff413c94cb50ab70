from allauth.mfa.webauthn.forms import AddWebAuthnForm, EditWebAuthnForm
from django import forms
from django.conf import settings
from django.utils.translation import get_language_info, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, Membership, Organization
from accounts.permissions import Role
from accounts.services import CUSTOMER_FIELDS


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = (
            "kind",
            "name",
            "legal_name",
            "uscc",
            "contact_name",
            "contact_phone",
            "address",
            "billing_email",
        )

    def clean_uscc(self):
        return self.cleaned_data["uscc"].strip().upper()


class OrganizationSettingsForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = CUSTOMER_FIELDS


class SwitchOrganizationForm(forms.Form):
    organization = forms.ChoiceField(label=_("Organization"))

    def __init__(self, *args, memberships, **kwargs):
        super().__init__(*args, **kwargs)
        self.memberships = {m.organization.public_id: m for m in memberships}
        self.fields["organization"].choices = [
            (public_id, m.organization.name) for public_id, m in self.memberships.items()
        ]

    @property
    def membership(self) -> Membership:
        return self.memberships[self.cleaned_data["organization"]]


class DepartmentChoiceField(forms.ModelChoiceField):
    """A department of the current organization, sent by its public id."""

    def __init__(self, organization, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(
            queryset=Department.objects.for_org(organization), to_field_name="public_id", **kwargs
        )


class MemberForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"] = DepartmentChoiceField(organization, label=_("Department"))


class InvitationForm(MemberForm):
    email = forms.EmailField(label=_("Email address"))
    field_order = ["email", "role", "department"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].initial = Role.DEVELOPER


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    code = forms.CharField(
        label=pgettext_lazy("department", "Code"),  # "Code" alone is allauth's sign-in code
        max_length=40,
        help_text=_("Unique in the organization."),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"] = DepartmentChoiceField(
            organization,
            label=_("Parent department"),
            empty_label=_("(top level)"),
        )
        self.fields["managers"] = forms.ModelMultipleChoiceField(
            label=_("Managers"),
            queryset=Membership.objects.for_org(organization).select_related("user"),
            to_field_name="public_id",
            required=False,
            help_text=_("Managers see and manage the projects, keys and quotas of this subtree."),
        )
        self.fields["managers"].label_from_instance = lambda membership: membership.user.email

    def clean_managers(self):
        return [membership.user for membership in self.cleaned_data["managers"]]


class StatusNoteForm(forms.Form):
    """Staff's note when approving or suspending an organization (sent to its owners)."""

    note = forms.CharField(label=_("Note to the organization"), widget=forms.Textarea)


class ConfirmForm(forms.Form):
    """An empty form for confirmation pages (remove, delete)."""

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)


class ProfileForm(forms.Form):
    """What signed-in users change about themselves here (accounts.services.update_profile)."""

    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[(code, get_language_info(code)["name_local"]) for code, _x in settings.LANGUAGES],
        help_text=_("The portal's pages, notifications and emails to you are in this language."),
    )


# --- Security keys (allauth.mfa's forms, settings.MFA_FORMS) -------------------------------


class AddSecurityKeyForm(AddWebAuthnForm):
    """allauth's form with a translated label (allauth's is the field's name, in English) and
    a bounded name; left blank, allauth names the key ("Master key", "Backup key")."""

    name = forms.CharField(label=_("Name of the key"), max_length=100, required=False)


class RenameSecurityKeyForm(EditWebAuthnForm):
    name = forms.CharField(label=_("Name of the key"), max_length=100)
