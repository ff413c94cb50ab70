from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import FormView, ListView, TemplateView
from django_filters.views import FilterView

from accounts.mixins import OrganizationMixin, ServiceFormMixin
from accounts.permissions import Action, can
from projects import services
from projects.filters import ApiKeyFilter
from projects.forms import ApiKeyForm, ProjectForm, RotateForm
from projects.models import ApiKey, Project
from projects.selectors import departments_for, quickstart_for


class ProjectListView(OrganizationMixin, ListView):
    action = Action.VIEW_PROJECTS
    model = Project
    template_name = "projects/project_list.html"
    paginate_by = 50

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("department")
            .annotate(key_count=Count("api_keys"))
            .order_by("status", "name", "id")
        )

    def get_context_data(self, **kwargs):
        can_create = can(self.membership, Action.MANAGE_PROJECTS)
        return super().get_context_data(can_create=can_create, **kwargs)


class KeyListView(OrganizationMixin, FilterView):
    """Every key of the projects the member may see, with filters."""

    action = Action.VIEW_PROJECTS
    model = ApiKey
    filterset_class = ApiKeyFilter
    template_name = "projects/key_list.html"
    paginate_by = 50

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("project__department", "created_by")
            .order_by("-created_at", "-id")
        )


class ProjectMixin(OrganizationMixin):
    """A project among those the member may see (else 404), on which `action` is allowed
    (else 403)."""

    def get_project(self) -> Project:
        if not hasattr(self, "project"):
            visible = Project.objects.for_member(self.membership, Action.VIEW_PROJECTS)
            project = get_object_or_404(
                visible.select_related("department"), public_id=self.kwargs["project"]
            )
            if not can(self.membership, self.action, project.department_id):
                raise PermissionDenied
            project.organization = self.organization  # the same row: no second read
            self.project = project
        return self.project

    def quickstart(self, key: ApiKey):
        """The quickstart of `key`, its examples with the model the page asks for (?model=)."""
        return quickstart_for(key, self.request.GET.get("model"))

    def get_context_data(self, **kwargs):
        kwargs["project"] = self.get_project()  # the object, not the URL's public id
        return super().get_context_data(**kwargs)


class ProjectFormMixin(ServiceFormMixin):
    form_class = ProjectForm
    template_name = "projects/project_form.html"

    def get_form_kwargs(self):
        return {
            **super().get_form_kwargs(),
            "departments": departments_for(self.membership, Action.MANAGE_PROJECTS),
            "department_required": not can(
                self.membership, Action.MANAGE_PROJECTS, department_id=None
            ),
        }


class ProjectCreateView(ProjectFormMixin, OrganizationMixin, FormView):
    action = Action.MANAGE_PROJECTS

    def perform(self, form):
        project = services.create_project(actor=self.actor, **form.cleaned_data)
        messages.success(self.request, _("Project created."))
        return redirect("projects:detail", project=project.public_id)


class ProjectDetailView(ProjectMixin, TemplateView):
    action = Action.VIEW_PROJECTS
    template_name = "projects/project_detail.html"

    def get_context_data(self, **kwargs):
        project = self.get_project()
        return super().get_context_data(
            keys=project.api_keys.all(),
            quickstart=self.quickstart(ApiKey(project=project)),
            can_manage_project=can(self.membership, Action.MANAGE_PROJECTS, project.department_id),
            can_manage_keys=can(self.membership, Action.MANAGE_KEYS, project.department_id)
            and not project.is_archived,
            **kwargs,
        )


class ProjectUpdateView(ProjectFormMixin, ProjectMixin, FormView):
    action = Action.MANAGE_PROJECTS

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.get_project()}

    def perform(self, form):
        project = services.update_project(
            actor=self.actor, project=self.get_project(), **form.cleaned_data
        )
        messages.success(self.request, _("Project saved."))
        return redirect("projects:detail", project=project.public_id)


class ConfirmView(ProjectMixin, TemplateView):
    """A confirmation page; POST runs `perform()` and goes back to the project."""

    template_name = "projects/confirm.html"
    title = question = button = ""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            title=self.title, question=self.question, button=self.button, **kwargs
        )

    def post(self, request, *args, **kwargs):
        try:
            messages.success(request, self.perform())
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("projects:detail", project=self.get_project().public_id)


class ProjectArchiveView(ConfirmView):
    action = Action.MANAGE_PROJECTS
    title = gettext_lazy("Archive project")
    question = gettext_lazy(
        "Its API keys will be refused from the next call on. Keys and usage history are kept."
    )
    button = gettext_lazy("Archive")

    def perform(self):
        services.archive_project(actor=self.actor, project=self.get_project())
        return _("Project archived.")


class KeyMixin(ProjectMixin):
    action = Action.MANAGE_KEYS

    def get_key(self) -> ApiKey:
        if not hasattr(self, "_key"):
            project = self.get_project()
            self._key = get_object_or_404(project.api_keys, public_id=self.kwargs["key"])
            self._key.project = project
        return self._key

    def get_context_data(self, **kwargs):
        if "key" in self.kwargs:
            kwargs["key"] = self.get_key()
        return super().get_context_data(**kwargs)

    def show_once(self, key: ApiKey, plaintext: str):
        """The plaintext goes into this response only: never a session, a message or a log."""
        response = render(
            self.request,
            "projects/key_created.html",
            {
                "project": self.get_project(),
                "key": key,
                "secret": plaintext,
                "quickstart": self.quickstart(key),
            },
        )
        response["Cache-Control"] = "no-store"
        return response


class KeyDetailView(KeyMixin, TemplateView):
    """A key's settings and its quickstart (with a placeholder: the secret is not kept)."""

    action = Action.VIEW_PROJECTS
    template_name = "projects/key_detail.html"

    def get_context_data(self, **kwargs):
        key = self.get_key()
        project = self.get_project()
        return super().get_context_data(
            quickstart=self.quickstart(key),
            can_manage_keys=can(self.membership, Action.MANAGE_KEYS, project.department_id)
            and not project.is_archived,
            **kwargs,
        )


class KeyCreateView(ServiceFormMixin, KeyMixin, FormView):
    form_class = ApiKeyForm
    template_name = "projects/key_form.html"

    def perform(self, form):
        key, plaintext = services.create_api_key(
            actor=self.actor, project=self.get_project(), **form.key_settings()
        )
        return self.show_once(key, plaintext)


class KeyUpdateView(ServiceFormMixin, KeyMixin, FormView):
    form_class = ApiKeyForm
    template_name = "projects/key_form.html"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.get_key()}

    def perform(self, form):
        services.update_api_key(actor=self.actor, key=self.get_key(), **form.key_settings())
        messages.success(self.request, _("Key saved."))
        return redirect("projects:detail", project=self.get_project().public_id)


class KeyRevokeView(KeyMixin, ConfirmView):
    title = gettext_lazy("Revoke API key")
    question = gettext_lazy(
        "The gateway refuses this key from its next call on. This cannot be undone."
    )
    button = gettext_lazy("Revoke")

    def perform(self):
        services.revoke_api_key(actor=self.actor, key=self.get_key())
        return _("Key revoked.")


class KeyRotateView(ServiceFormMixin, KeyMixin, FormView):
    form_class = RotateForm
    template_name = "projects/key_rotate.html"

    def perform(self, form):
        key, plaintext = services.rotate_api_key(
            actor=self.actor,
            key=self.get_key(),
            grace=timedelta(hours=form.cleaned_data["grace_hours"]),
        )
        return self.show_once(key, plaintext)
