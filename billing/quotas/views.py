"""Quota pages: list with progress and forecast, create / edit / delete, detail with the
alert history and period history, increase requests and their inbox."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views.generic import FormView, ListView, TemplateView, View

from accounts.mixins import OrganizationMixin, ServiceFormMixin, add_service_errors
from accounts.models import Department
from accounts.permissions import Action, can
from billing.quotas import services as quotas
from billing.quotas.forms import DecisionForm, IncreaseRequestForm, QuotaForm
from billing.quotas.models import Quota, QuotaAlert, QuotaIncreaseRequest
from billing.quotas.selectors import with_usage


class QuotaMixin(OrganizationMixin):
    action = Action.VIEW_USAGE

    def get_quota(self) -> Quota:
        """A quota the member may see (else 404)."""
        visible = Quota.objects.for_member(self.membership, Action.VIEW_USAGE)
        return get_object_or_404(
            visible.select_related("department", "project", "api_key__project", "organization"),
            public_id=self.kwargs["quota"],
        )


class QuotaListView(QuotaMixin, ListView):
    template_name = "billing/quotas/quota_list.html"
    paginate_by = 50

    def get_queryset(self):
        queryset = Quota.objects.for_member(self.membership, Action.VIEW_USAGE)
        department = self.request.GET.get("department")
        if department:
            queryset = queryset.filter(owner_department__public_id=department)
        return queryset.select_related("department", "project", "api_key__project", "organization")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        with_usage(context["object_list"])
        context["departments"] = Department.objects.for_org(self.organization)
        context["department"] = self.request.GET.get("department", "")
        return context


class QuotaFormMixin(ServiceFormMixin, QuotaMixin):
    action = Action.MANAGE_QUOTAS
    template_name = "billing/quotas/quota_form.html"
    form_class = QuotaForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "membership": self.membership}

    def perform(self, form):
        quota = self.save_quota(form)
        messages.success(self.request, _("Quota saved."))
        return redirect("billing:quota-detail", quota=quota.public_id)


class QuotaCreateView(QuotaFormMixin, FormView):
    def save_quota(self, form):
        return quotas.create_quota(actor=self.actor, **form.service_values())


class QuotaUpdateView(QuotaFormMixin, FormView):
    @cached_property
    def quota(self) -> Quota:
        return self.get_quota()

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.quota, "editing": True}

    def get_context_data(self, **kwargs):
        return super().get_context_data(quota=self.quota, **kwargs)

    def save_quota(self, form):
        return quotas.update_quota(actor=self.actor, quota=self.quota, **form.service_values())


class QuotaDeleteView(QuotaMixin, View):
    action = Action.MANAGE_QUOTAS

    def post(self, request, quota):
        quotas.delete_quota(actor=self.actor, quota=self.get_quota())
        messages.success(request, _("Quota deleted."))
        return redirect("billing:quotas")


class QuotaDetailView(QuotaMixin, TemplateView):
    template_name = "billing/quotas/quota_detail.html"

    def get_context_data(self, **kwargs):
        kwargs.pop("quota", None)  # the URL's public id; the context gets the object
        quota = with_usage([self.get_quota()])[0]
        return super().get_context_data(
            quota=quota,
            periods=quota.periods.all()[:12],
            alerts=QuotaAlert.objects.filter(quota_period__quota=quota).select_related(
                "quota_period"
            )[:50],
            requests=quota.increase_requests.select_related("requested_by")[:20],
            can_edit=can(self.membership, quota.setting_action, quota.owner_department_id),
            can_request=can(self.membership, Action.REQUEST_QUOTA, quota.owner_department_id),
            request_form=kwargs.pop("request_form", None) or IncreaseRequestForm(),
            **kwargs,
        )


class IncreaseRequestCreateView(QuotaMixin, View):
    def post(self, request, quota):
        quota = self.get_quota()
        form = IncreaseRequestForm(request.POST)
        if form.is_valid():
            try:
                quotas.request_increase(actor=self.actor, quota=quota, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
        if form.errors:
            view = QuotaDetailView(request=request, kwargs=self.kwargs)
            view.membership, view.organization = self.membership, self.organization
            return view.render_to_response(view.get_context_data(request_form=form), status=400)
        messages.success(request, _("Your request was sent to the organization's admins."))
        return redirect("billing:quota-detail", quota=quota.public_id)


class IncreaseRequestInboxView(QuotaMixin, ListView):
    template_name = "billing/quotas/request_list.html"
    paginate_by = 50

    def get_queryset(self):
        return (
            QuotaIncreaseRequest.objects.for_member(self.membership, Action.VIEW_USAGE)
            .select_related("quota__department", "quota__project", "quota__api_key__project",
                            "quota__organization", "requested_by", "decided_by")
            .order_by("status", "-created_at")
        )  # fmt: skip

    def get_context_data(self, **kwargs):
        return super().get_context_data(form=DecisionForm(), **kwargs)


class IncreaseRequestDecideView(QuotaMixin, View):
    action = Action.MANAGE_QUOTAS

    def post(self, request, increase, verdict):
        if verdict not in ("approve", "reject"):
            raise Http404
        if not can(self.membership, Action.DECIDE_QUOTA_REQUESTS):
            raise PermissionDenied
        increase = get_object_or_404(
            QuotaIncreaseRequest.objects.for_member(self.membership, Action.VIEW_USAGE),
            public_id=increase,
        )
        form = DecisionForm(request.POST)
        comment = form.cleaned_data["comment"] if form.is_valid() else ""
        try:
            quotas.decide_increase(
                actor=self.actor, increase=increase, approve=verdict == "approve", comment=comment
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Decision recorded."))
        return redirect("billing:quota-requests")
