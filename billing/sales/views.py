"""Token packs for customers: the packs offered and held, buying one, a purchase's page
(and cancelling it while unpaid), a pack's page (consumption, forecast, token ledger) and
allocating it to a department."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views import generic

from accounts.mixins import OrganizationMixin, ServiceFormMixin
from accounts.models import Department
from accounts.permissions import Action, can
from billing.invoicing import ledger, remittance
from billing.invoicing.consolidated_models import is_consolidated
from billing.packages import services as packages
from billing.packages.models import Entitlement, EntitlementEntry
from billing.sales import plans, selectors, services
from billing.sales.forms import BALANCE, ONLINE, AllocateForm, BuyPackForm
from billing.sales.models import Purchase

LEDGER_ROWS = 100  # the latest entries of a pack's token ledger shown on its page


def held_packs(membership):
    return (
        Entitlement.objects.for_member(membership, Action.VIEW_BILLING)
        .filter(source=Entitlement.Source.PACK)
        .select_related("offer", "department")
        .order_by("status", "expires_at")
    )


class PacksView(OrganizationMixin, generic.TemplateView):
    action = Action.VIEW_BILLING
    template_name = "billing/packs/list.html"

    def get_context_data(self, **kwargs):
        open_purchases = (
            Purchase.objects.for_org(self.organization)
            .filter(invoice__status="issued")
            .select_related("invoice", "offer")
        )
        return super().get_context_data(
            offers=selectors.offers_for(self.organization),
            packs=held_packs(self.membership),
            open_purchases=open_purchases,
            plan=plans.plan_status(self.organization),
            can_buy=can(self.membership, Action.MANAGE_BILLING),
            **kwargs,
        )


class PayChoiceMixin:
    """A form asking how to pay, except on the operator's consolidated bill: that bill
    charges it and the purchase is served at once."""

    @cached_property
    def on_operator_bill(self) -> bool:
        return is_consolidated(self.organization)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "on_operator_bill": self.on_operator_bill}

    def get_context_data(self, **kwargs):
        return super().get_context_data(on_operator_bill=self.on_operator_bill, **kwargs)


class BuyPackView(PayChoiceMixin, OrganizationMixin, ServiceFormMixin, generic.FormView):
    action = Action.MANAGE_BILLING
    template_name = "billing/packs/buy.html"
    form_class = BuyPackForm

    @cached_property
    def row(self) -> selectors.OfferRow:
        offered = {row.offer.public_id: row for row in selectors.offers_for(self.organization)}
        row = offered.get(self.kwargs["offer"])
        if row is None:  # not published, not offered to this organization, or no price yet
            raise Http404
        return row

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            row=self.row, balance=ledger.balance(self.organization), **kwargs
        )

    def perform(self, form):
        how = form.cleaned_data.get("pay")  # None on the operator's bill
        purchase = services.buy_pack(
            actor=self.actor,
            organization=self.organization,
            offer=self.row.offer,
            from_balance=how == BALANCE,
        )
        if purchase.entitlement_id:  # paid from the balance, or charged on the operator's bill
            messages.success(
                self.request, _("The pack is yours: it is drawn from your next calls.")
            )
            return redirect("billing:pack", entitlement=purchase.entitlement.public_id)
        if how == ONLINE:
            start = reverse("billing:payment-start")
            return redirect(f"{start}?invoice={purchase.invoice.public_id}")
        return redirect("billing:pack-purchase", purchase=purchase.public_id)


class PurchaseView(OrganizationMixin, generic.DetailView):
    """A purchase: its invoice and how to pay it by bank transfer (or online), or its charge
    on the operator's consolidated bill."""

    action = Action.VIEW_BILLING
    template_name = "billing/packs/purchase.html"
    model = Purchase
    slug_field = "public_id"
    slug_url_kwarg = "purchase"
    context_object_name = "purchase"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("invoice", "operator_charge", "offer", "entitlement")
            .prefetch_related("invoice__credit_notes")
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            remittance_reference=remittance.reference_for(self.organization),
            seller=settings.SELLER,
            can_cancel=can(self.membership, Action.MANAGE_BILLING),
            **kwargs,
        )


class CancelPurchaseView(PurchaseView):
    """POST: cancel an open purchase (its invoice voided); refused once paid, with the page
    showing why."""

    action = Action.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        self.object = purchase = self.get_object()
        try:
            services.cancel_purchase(actor=self.actor, purchase=purchase)
        except ValidationError as error:
            context = self.get_context_data(cancel_errors=error.messages)
            return self.render_to_response(context, status=400)
        messages.success(request, _("The purchase is cancelled: its invoice is void."))
        return redirect("billing:pack-purchase", purchase=purchase.public_id)


class PackView(OrganizationMixin, generic.DetailView):
    action = Action.VIEW_BILLING
    template_name = "billing/packs/detail.html"
    model = Entitlement
    slug_field = "public_id"
    slug_url_kwarg = "entitlement"
    context_object_name = "pack"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .filter(source=Entitlement.Source.PACK)
            .select_related("offer", "terms", "department")
        )

    def get_context_data(self, **kwargs):
        pack = self.object
        can_allocate = can(self.membership, Action.MANAGE_BILLING)
        departments = Department.objects.filter(organization=self.organization).order_by("name")
        return super().get_context_data(
            consumption=selectors.consumption(pack),
            forecast=selectors.forecast(pack),
            entries=EntitlementEntry.objects.filter(entitlement=pack).order_by("-id")[:LEDGER_ROWS],
            ledger_rows=LEDGER_ROWS,
            allocate_form=(
                kwargs.pop("allocate_form", None)
                or AllocateForm(
                    departments=departments,
                    initial={"department": pack.department.public_id if pack.department else ""},
                )
            )
            if can_allocate
            else None,
            **kwargs,
        )


class AllocatePackView(PackView):
    """POST: allocate the pack to a department subtree (or back to the whole organization)."""

    action = Action.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        self.object = pack = self.get_object()
        departments = Department.objects.filter(organization=self.organization)
        form = AllocateForm(request.POST, departments=departments)
        if form.is_valid():
            packages.allocate(
                actor=self.actor, entitlement=pack, department=form.cleaned_data["department"]
            )
            messages.success(request, _("The allocation is saved."))
            return redirect("billing:pack", entitlement=pack.public_id)
        return self.render_to_response(self.get_context_data(allocate_form=form), status=400)
