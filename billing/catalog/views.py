"""Public catalog pages and the organization's model policy pages."""

import contextlib

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import generic
from django_filters.views import FilterView

from accounts.mixins import OrganizationMixin, ServiceFormMixin
from accounts.permissions import Action
from accounts.tenancy import current_membership
from billing.catalog import services
from billing.catalog.filters import CatalogModelFilter
from billing.catalog.forms import CalculatorForm, ModelPolicyForm
from billing.catalog.models import ModelPolicy
from billing.catalog.pricing import PriceNotFound, cost_of, effective_price, schedule_of
from billing.catalog.selectors import catalog_models, conditions_text

MAX_COMPARED = 4


class CatalogListView(FilterView):
    filterset_class = CatalogModelFilter
    template_name = "billing/catalog_list.html"
    paginate_by = 25

    def get_queryset(self):
        return catalog_models()


def model_detail(request, model_id):
    model = catalog_models().filter(model_id=model_id).prefetch_related("aliases").first()
    if model is None:
        raise Http404
    membership = current_membership(request)
    form = CalculatorForm(request.GET or None)
    estimate = price = None
    now = timezone.now()
    with contextlib.suppress(PriceNotFound):
        price = effective_price(
            organization=membership.organization if membership else None, model=model, at=now
        )
    if price is not None and form.is_valid():
        estimate = cost_of(
            price=price,
            at=now,
            input_tokens=form.cleaned_data["input_tokens"],
            output_tokens=form.cleaned_data["output_tokens"],
            cached_input_tokens=form.cleaned_data["cached_input_tokens"] or 0,
            cache_write_tokens=form.cleaned_data["cache_write_tokens"] or 0,
        )
    history = model.prices.order_by("-effective_from")
    return render(
        request,
        "billing/model_detail.html",
        {
            "model": model,
            "history": [(version, conditions_text(schedule_of(version))) for version in history],
            "price": price,
            "form": form,
            "estimate": estimate,
            "now": now,
        },
    )


def compare(request):
    wanted = list(dict.fromkeys(request.GET.getlist("model")))
    if len(wanted) > MAX_COMPARED:
        messages.warning(request, _("Up to four models can be compared; showing the first four."))
        wanted = wanted[:MAX_COMPARED]
    found = {m.model_id: m for m in catalog_models().filter(model_id__in=wanted)}
    return render(
        request, "billing/compare.html", {"models": [found[i] for i in wanted if i in found]}
    )


class PolicyMixin(OrganizationMixin):
    action = Action.MANAGE_ORGANIZATION
    model = ModelPolicy
    success_url = reverse_lazy("billing:policies")

    def get_queryset(self):
        return super().get_queryset().select_related("department")


class PolicyListView(PolicyMixin, generic.ListView):
    template_name = "billing/policy_list.html"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("catalog_models", "providers")


class PolicyFormMixin(ServiceFormMixin, PolicyMixin):
    form_class = ModelPolicyForm
    template_name = "billing/policy_form.html"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "organization": self.organization}

    def perform(self, form):
        services.save_model_policy(
            actor=self.actor,
            policy=form.save(commit=False),
            catalog_models=form.cleaned_data["catalog_models"],
            providers=form.cleaned_data["providers"],
        )
        messages.success(self.request, _("The model policy is saved."))
        return redirect(self.success_url)


class PolicyCreateView(PolicyFormMixin, generic.CreateView):
    pass


class PolicyUpdateView(PolicyFormMixin, generic.UpdateView):
    slug_field, slug_url_kwarg = "public_id", "policy"


class PolicyDeleteView(PolicyMixin, generic.DeleteView):
    slug_field, slug_url_kwarg = "public_id", "policy"
    template_name = "billing/policy_confirm_delete.html"

    def form_valid(self, form):
        services.delete_model_policy(actor=self.actor, policy=self.object)
        messages.success(self.request, _("The model policy is deleted."))
        return redirect(reverse("billing:policies"))
