"""View and viewset bases that apply accounts.tenancy to every customer page and endpoint,
and the one way a page shows a service's ValidationError on its form."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions

from accounts.audit_trail import Actor
from accounts.permissions import Action, can
from accounts.tenancy import current_membership


class OrganizationMixin(LoginRequiredMixin):
    """Base of every customer page.

    Resolves the membership, refuses (403) a role that may not take `action` at all, and
    scopes `get_queryset()` so that objects outside the member's reach are 404s.
    """

    action: Action = Action.VIEW_ORGANIZATION

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.membership = current_membership(request)
        if self.membership is None:
            messages.info(request, _("Create an organization or accept an invitation first."))
            return redirect("home")
        if not can(self.membership, self.action):
            raise PermissionDenied
        self.organization = self.membership.organization
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().for_member(self.membership, self.action)

    @property
    def actor(self) -> Actor:
        """The member acting in this request, as services take it."""
        return Actor.from_request(self.request, self.membership)

    def get_context_data(self, **kwargs):
        return super().get_context_data(organization=self.organization, **kwargs)


class OrganizationAPIMixin:
    """Base of every customer viewset: the same rules as OrganizationMixin, for the API.

    `read_action` guards safe methods, `write_action` the others; `actions` overrides per
    viewset action (e.g. {"revoke": Action.MANAGE_KEYS}).
    """

    read_action: Action = Action.VIEW_ORGANIZATION
    write_action: Action = Action.MANAGE_ORGANIZATION
    actions: dict[str, Action] = {}
    permission_classes = [permissions.IsAuthenticated]

    def required_action(self) -> Action:
        if self.action in self.actions:
            return self.actions[self.action]
        return (
            self.read_action
            if self.request.method in permissions.SAFE_METHODS
            else self.write_action
        )

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticates
        self.membership = current_membership(request)
        if self.membership is None:
            raise exceptions.NotFound(_("No organization is selected."))
        if not can(self.membership, self.required_action()):
            raise exceptions.PermissionDenied
        self.organization = self.membership.organization

    def get_queryset(self):
        return super().get_queryset().for_member(self.membership, self.required_action())

    @property
    def actor(self) -> Actor:
        """The member acting in this request, as services take it."""
        return Actor.from_request(self.request, self.membership)


def add_service_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on `form`: each field's messages on that field when
    the form has it, all others as non-field errors."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class ServiceFormMixin:
    """form_valid() returns `perform(form)`, which calls the service and answers; when the
    service raises ValidationError, the form is shown again with its errors."""

    def form_valid(self, form):
        try:
            return self.perform(form)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)

    def perform(self, form):
        raise NotImplementedError
