"""The plan page: the organization's plan (period, allowance left this month, renewal), fee
invoices waiting for payment, the plans it may subscribe or change to; subscribing, changing
and cancelling or resuming the renewal."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views import generic

from accounts.mixins import OrganizationMixin, ServiceFormMixin
from accounts.permissions import Action, can
from billing.invoicing import ledger
from billing.invoicing.models import Invoice
from billing.packages import plans as plan_terms
from billing.sales import plans
from billing.sales.forms import BALANCE, ONLINE
from billing.sales.plan_forms import NOW, ChangePlanForm, PlanPayForm, RenewalForm
from billing.sales.views import PayChoiceMixin


class PlanView(OrganizationMixin, generic.TemplateView):
    action = Action.VIEW_BILLING
    template_name = "billing/plans/plan.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            plan=plans.plan_status(self.organization),
            offers=plans.plan_offers(self.organization),
            can_manage=can(self.membership, Action.MANAGE_BILLING),
            **kwargs,
        )


class PlanFormView(PayChoiceMixin, OrganizationMixin, ServiceFormMixin, generic.FormView):
    """A plan offered to the organization (named in the URL): a form about it, then the fee
    paid or waiting for its payment."""

    action = Action.MANAGE_BILLING

    @cached_property
    def row(self):
        rows = {row.offer.public_id: row for row in plans.plan_offers(self.organization)}
        row = rows.get(self.kwargs["offer"])
        if row is None:  # not published, not offered to this organization, or no terms yet
            raise Http404
        return row

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            row=self.row,
            plan=plans.plan_status(self.organization),
            balance=ledger.balance(self.organization),
            **kwargs,
        )

    def paid_or_pay(self, how: str, invoice: Invoice | None, done: str):
        if invoice is None or invoice.status != Invoice.Status.ISSUED:
            messages.success(self.request, done)
        elif how == ONLINE:
            return redirect(f"{reverse('billing:payment-start')}?invoice={invoice.public_id}")
        else:
            messages.info(
                self.request,
                _("Invoice %(number)s is waiting for your payment: quote its number in the "
                  "bank transfer.") % {"number": invoice.number},
            )  # fmt: skip
        return redirect("billing:plan")


class SubscribePlanView(PlanFormView):
    template_name = "billing/plans/subscribe.html"
    form_class = PlanPayForm

    def perform(self, form):
        how = form.cleaned_data.get("pay")  # None on the operator's bill
        subscription = plans.subscribe(
            actor=self.actor,
            organization=self.organization,
            offer=self.row.offer,
            from_balance=how == BALANCE,
        )
        fee = subscription.fees.select_related("invoice").first()
        return self.paid_or_pay(
            how,
            fee.invoice if fee else None,
            _("Your plan has started: its allowance is drawn from your next calls."),
        )


class ChangePlanView(PlanFormView):
    template_name = "billing/plans/change.html"
    form_class = ChangePlanForm

    def perform(self, form):
        status = plans.plan_status(self.organization)
        if status is None:
            raise Http404
        how = form.cleaned_data.get("pay")  # None on the operator's bill
        if form.cleaned_data["when"] == NOW:
            fee = plans.upgrade_now(
                actor=self.actor,
                subscription=status.subscription,
                offer=self.row.offer,
                from_balance=how == BALANCE,
            )
            return self.paid_or_pay(how, fee.invoice, _("Your plan is upgraded from now."))
        plan_terms.schedule_change(
            actor=self.actor, subscription=status.subscription, offer=self.row.offer
        )
        messages.success(self.request, _("Your plan changes at the start of the next period."))
        return redirect("billing:plan")


class RenewalView(OrganizationMixin, generic.View):
    """POST: cancel the renewal (the plan ends at its period's end) or resume it."""

    action = Action.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        status = plans.plan_status(self.organization)
        if status is None:
            raise Http404
        form = RenewalForm(request.POST)
        form.is_valid()  # a checkbox: absent is False
        auto_renew = form.cleaned_data.get("auto_renew", False)
        try:
            plan_terms.set_auto_renew(
                actor=self.actor, subscription=status.subscription, auto_renew=auto_renew
            )
        except ValidationError as refused:
            for message in refused.messages:
                messages.error(request, message)
        else:
            messages.success(
                request,
                _("Your plan renews automatically.")
                if auto_renew
                else _("Your plan ends at the end of its current period."),
            )
        return redirect("billing:plan")
