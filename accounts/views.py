"""Organization pages (a scoped fetch (OrganizationMixin), one service call, a render) and the
signed-in user's profile."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.utils.translation import activate, get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, ListView
from django.views.generic.detail import SingleObjectMixin
from django_filters.views import FilterView

from accounts import services
from accounts.audit_trail import Actor
from accounts.filters import AuditEventFilter
from accounts.forms import (
    ConfirmForm,
    DepartmentForm,
    InvitationForm,
    MemberForm,
    OrganizationForm,
    OrganizationSettingsForm,
    ProfileForm,
    SwitchOrganizationForm,
)
from accounts.languages import set_language_cookie
from accounts.mixins import OrganizationMixin, ServiceFormMixin
from accounts.models import AuditEvent, Department, Invitation, Membership
from accounts.permissions import Action, can
from accounts.selectors import (
    AUDIT_CSV_HEADER,
    audit_csv_rows,
    department_tree,
    find_invitation,
    invitations_for,
    memberships_of,
)
from accounts.tenancy import choose_organization, current_membership
from portal import csv


class ServiceFormView(ServiceFormMixin, OrganizationMixin, FormView):
    """A form whose valid data goes to one service, then back to `success_url_name`."""

    success_url_name: str
    success_message = ""

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "organization": self.organization}

    def perform(self, form):
        self.run_service(form=form)
        if self.success_message:
            messages.success(self.request, self.success_message)
        return redirect(self.success_url_name)

    def run_service(self, *, form):
        raise NotImplementedError


class ObjectFormView(ServiceFormView, SingleObjectMixin):
    """A ServiceFormView about one object of the current organization, found by public id
    in the URL kwarg named after the model ("membership", "department", ...)."""

    slug_field = "public_id"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.slug_url_kwarg = self.url_kwarg

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        return super().post(request, *args, **kwargs)


# --- Profile ----------------------------------------------------------------------------


class ProfileView(ServiceFormMixin, LoginRequiredMixin, FormView):
    """The signed-in user's name and language. Email addresses, password and second factors
    stay on allauth's pages, linked from here."""

    template_name = "accounts/profile.html"
    form_class = ProfileForm

    def get_initial(self):
        user = self.request.user
        return {"full_name": user.full_name, "language": user.language or get_language()}

    def perform(self, form):
        services.update_profile(actor=Actor.from_request(self.request), **form.cleaned_data)
        language = form.cleaned_data["language"]
        activate(language)  # the confirmation reads in the language just chosen
        messages.success(self.request, _("Your profile is saved."))
        response = redirect("profile")
        set_language_cookie(response, language)
        return response


# --- Organization -----------------------------------------------------------------------


class OrganizationCreateView(ServiceFormMixin, LoginRequiredMixin, FormView):
    template_name = "accounts/organization_form.html"
    form_class = OrganizationForm

    def perform(self, form):
        membership = services.create_organization(
            actor=Actor.from_request(self.request), **form.cleaned_data
        )
        choose_organization(self.request, membership)
        messages.success(
            self.request, _("Your organization is registered and waits for review by our staff.")
        )
        return redirect("home")


class OrganizationSettingsView(ServiceFormView):
    action = Action.MANAGE_ORGANIZATION
    template_name = "accounts/organization_settings.html"
    form_class = OrganizationSettingsForm
    success_url_name = "accounts:settings"
    success_message = gettext_lazy("Settings saved.")

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        del kwargs["organization"]
        return {**kwargs, "instance": self.organization}

    def run_service(self, *, form):
        services.update_organization(
            actor=self.actor,
            organization=self.organization,
            data={field: form.cleaned_data[field] for field in form.changed_data},
        )


class SwitchOrganizationView(LoginRequiredMixin, FormView):
    template_name = "accounts/switch.html"
    form_class = SwitchOrganizationForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "memberships": memberships_of(self.request.user)}

    def form_valid(self, form):
        choose_organization(self.request, form.membership)
        return redirect("home")


# --- Members ----------------------------------------------------------------------------


class MemberListView(OrganizationMixin, ListView):
    action = Action.VIEW_MEMBERS
    model = Membership
    template_name = "accounts/member_list.html"
    paginate_by = 100

    def get_queryset(self):
        return super().get_queryset().select_related("user", "department").order_by("user__email")

    def get_context_data(self, **kwargs):
        may_manage = can(self.membership, Action.MANAGE_MEMBERS)
        return super().get_context_data(may_manage=may_manage, **kwargs)


class MemberUpdateView(ObjectFormView):
    action = Action.MANAGE_MEMBERS
    model = Membership
    url_kwarg = "member"
    form_class = MemberForm
    template_name = "accounts/member_form.html"
    success_url_name = "accounts:members"
    success_message = gettext_lazy("Member updated.")

    def get_initial(self):
        department = self.object.department
        return {"role": self.object.role, "department": department and department.public_id}

    def run_service(self, *, form):
        services.change_member(actor=self.actor, membership=self.object, **form.cleaned_data)


class MemberRemoveView(ObjectFormView):
    action = Action.MANAGE_MEMBERS
    model = Membership
    url_kwarg = "member"
    form_class = ConfirmForm
    template_name = "accounts/member_remove.html"
    success_url_name = "accounts:members"
    success_message = gettext_lazy("Member removed.")

    def run_service(self, *, form):
        services.remove_member(actor=self.actor, membership=self.object)


# --- Invitations ------------------------------------------------------------------------


class InvitationListView(ServiceFormView):
    """Pending and past invitations, and the form to send a new one."""

    action = Action.MANAGE_MEMBERS
    form_class = InvitationForm
    template_name = "accounts/invitation_list.html"
    success_url_name = "accounts:invitations"
    success_message = gettext_lazy("Invitation sent.")

    def get_context_data(self, **kwargs):
        invitations = (
            Invitation.objects.for_member(self.membership, self.action)
            .select_related("department")
            .order_by("-created_at")[:200]
        )
        return super().get_context_data(invitations=invitations, **kwargs)

    def run_service(self, *, form):
        services.invite_member(actor=self.actor, **form.cleaned_data)


class InvitationActionView(ObjectFormView):
    """POST only: resend or revoke one invitation."""

    action = Action.MANAGE_MEMBERS
    model = Invitation
    url_kwarg = "invitation"
    form_class = ConfirmForm
    http_method_names = ["post"]
    success_url_name = "accounts:invitations"
    service: staticmethod

    def run_service(self, *, form):
        self.service(actor=self.actor, invitation=self.object)

    def form_invalid(self, form):
        for error in form.non_field_errors():
            messages.error(self.request, error)
        return redirect(self.success_url_name)


class InvitationResendView(InvitationActionView):
    service = staticmethod(services.resend_invitation)
    success_message = gettext_lazy("Invitation sent again with a new link.")


class InvitationRevokeView(InvitationActionView):
    service = staticmethod(services.revoke_invitation)
    success_message = gettext_lazy("Invitation revoked.")


class JoinView(View):
    """Accept an invitation: by the emailed link (token), or from the home page (public id,
    only among invitations addressed to the signed-in user's verified email)."""

    template_name = "accounts/join.html"

    def get_invitation(self):
        if "token" in self.kwargs:
            return find_invitation(self.kwargs["token"])
        return get_object_or_404(
            invitations_for(self.request.user), public_id=self.kwargs["invitation"]
        )

    def render(self, invitation, problem=None, status=200):
        context = {"invitation": invitation, "problem": problem}
        return TemplateResponse(self.request, self.template_name, context, status=status)

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated and (request.method != "GET" or "token" not in kwargs):
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        # A signed-out visitor with a valid link sees links to sign in or sign up (?next=).
        invitation = self.get_invitation()
        problem = services.invitation_problem(invitation, request.user)
        return self.render(invitation, problem, self.status_for(invitation, problem))

    def post(self, request, *args, **kwargs):
        invitation = self.get_invitation()
        problem = services.invitation_problem(invitation, request.user)
        if problem:
            return self.render(invitation, problem, self.status_for(invitation, problem))
        try:
            membership = services.accept_invitation(
                actor=Actor.from_request(request), invitation=invitation
            )
        except ValidationError as error:
            return self.render(invitation, " ".join(error.messages), 400)
        choose_organization(request, membership)
        messages.success(request, _("Welcome to %(name)s.") % {"name": membership.organization})
        return redirect("home")

    @staticmethod
    def status_for(invitation, problem):
        """Gone for a used, revoked or expired link; Forbidden for another person's."""
        if problem is None:
            return 200
        return 403 if invitation is not None and invitation.is_usable else 410


# --- Departments ------------------------------------------------------------------------


class DepartmentTreeView(OrganizationMixin, ListView):
    action = Action.VIEW_MEMBERS
    model = Department
    template_name = "accounts/department_tree.html"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .annotate(member_count=Count("members"))
            .prefetch_related("managers")
            .order_by("code")
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            tree=department_tree(self.object_list),
            may_manage=can(self.membership, Action.MANAGE_DEPARTMENTS),
            **kwargs,
        )


class DepartmentCreateView(ServiceFormView):
    action = Action.MANAGE_DEPARTMENTS
    form_class = DepartmentForm
    template_name = "accounts/department_form.html"
    success_url_name = "accounts:departments"
    success_message = gettext_lazy("Department created.")

    def run_service(self, *, form):
        services.create_department(actor=self.actor, **form.cleaned_data)


class DepartmentUpdateView(ObjectFormView):
    """Rename, recode, move (change the parent) or change managers."""

    action = Action.MANAGE_DEPARTMENTS
    model = Department
    url_kwarg = "department"
    form_class = DepartmentForm
    template_name = "accounts/department_form.html"
    success_url_name = "accounts:departments"
    success_message = gettext_lazy("Department saved.")

    def get_initial(self):
        department = self.object
        return {
            "name": department.name,
            "code": department.code,
            "parent": department.parent and department.parent.public_id,
            "managers": Membership.objects.for_org(self.organization).filter(
                user__in=department.managers.all()
            ),
        }

    def run_service(self, *, form):
        services.update_department(actor=self.actor, department=self.object, data=form.cleaned_data)


class DepartmentDeleteView(ObjectFormView):
    action = Action.MANAGE_DEPARTMENTS
    model = Department
    url_kwarg = "department"
    form_class = ConfirmForm
    template_name = "accounts/department_delete.html"
    success_url_name = "accounts:departments"
    success_message = gettext_lazy("Department deleted.")

    def run_service(self, *, form):
        services.delete_department(actor=self.actor, department=self.object)


# --- Audit trail ------------------------------------------------------------------------


class AuditLogView(OrganizationMixin, FilterView):
    action = Action.VIEW_AUDIT
    model = AuditEvent
    filterset_class = AuditEventFilter
    template_name = "accounts/audit_list.html"
    paginate_by = 50


class AuditExportView(OrganizationMixin, View):
    """The filtered audit log as CSV, streamed row by row."""

    action = Action.VIEW_AUDIT

    def get(self, request, *args, **kwargs):
        events = AuditEventFilter(
            request.GET, queryset=AuditEvent.objects.for_member(self.membership, self.action)
        )
        if not events.is_valid():
            return HttpResponseBadRequest(_("The filters are not valid."))
        rows = ((row[0].isoformat(), *row[1:]) for row in audit_csv_rows(events.qs))
        return csv.response(AUDIT_CSV_HEADER, rows, "audit-log.csv")


def home(request):
    """Public landing page, or onboarding for a user of no organization (a member's
    overview is billing.overview.views.home, which comes here for everyone else)."""
    context = {}
    if request.user.is_authenticated and current_membership(request) is None:
        context["invitations"] = invitations_for(request.user)
    return render(request, "accounts/home.html", context)
