"""Pages of an online payment: start one (a top-up or an invoice), show its code and follow
it; and the providers' notification endpoint (no session, no CSRF: the signature decides)."""

import logging

import segno
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.views import generic
from django.views.decorators.csrf import csrf_exempt

from accounts.mixins import OrganizationMixin, ServiceFormMixin
from accounts.permissions import Action
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice
from billing.payments import gateway, services
from billing.payments.forms import PaymentForm
from billing.payments.models import Payment
from portal.ratelimit import per_client_ip

logger = logging.getLogger(__name__)


def qr_svg(payment: Payment) -> str:
    """The payment code as an inline SVG drawn here (no image service sees the code)."""
    if not payment.code_url:
        return ""
    code = segno.make(payment.code_url, error="m")
    return mark_safe(code.svg_inline(scale=5, light="#fff", title=payment.out_trade_no))  # noqa: S308 (segno's own markup)


class PaymentStartView(OrganizationMixin, ServiceFormMixin, generic.FormView):
    action = Action.MANAGE_BILLING
    template_name = "billing/payments/start.html"
    form_class = PaymentForm

    def dispatch(self, request, *args, **kwargs):
        self.providers = list(gateway.configured())
        return super().dispatch(request, *args, **kwargs)

    def get_invoice(self):
        number = self.request.GET.get("invoice") or self.request.POST.get("invoice")
        if not number:
            return None
        invoices = Invoice.objects.visible_to_customers().for_member(self.membership, self.action)
        return get_object_or_404(invoices, public_id=number)

    def get_form_kwargs(self):
        if not self.providers:
            raise Http404
        self.invoice = self.get_invoice()
        return {**super().get_form_kwargs(), "providers": self.providers, "invoice": self.invoice}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)  # makes the form, finds the invoice
        owed = invoicing.outstanding_amount(self.invoice) if self.invoice else None
        return {**context, "invoice": self.invoice, "owed": owed}

    def perform(self, form):
        payment = services.start_payment(
            actor=self.actor,
            organization=self.organization,
            provider_code=form.cleaned_data["provider"],
            amount=form.cleaned_data.get("amount"),
            invoice=self.invoice,
        )
        return redirect("billing:payment", payment=payment.public_id)


class PaymentView(OrganizationMixin, generic.DetailView):
    action = Action.VIEW_BILLING
    template_name = "billing/payments/detail.html"
    model = Payment
    slug_field = "public_id"
    slug_url_kwarg = "payment"
    context_object_name = "payment"

    def get_context_data(self, **kwargs):
        return super().get_context_data(qr_svg=qr_svg(self.object), **kwargs)


class PaymentStatusView(PaymentView):
    """What the payment page polls: the status only, from our database."""

    def get(self, request, *args, **kwargs):
        payment = self.get_object()
        return JsonResponse(
            {"status": payment.status, "open": payment.is_open,
             "status_display": str(payment.get_status_display())}
        )  # fmt: skip


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(per_client_ip("payment-notify", "PAYMENT_NOTIFY_RATE_LIMIT"), name="dispatch")
class NotificationView(generic.View):
    """The provider's asynchronous notification: verified by its signature, applied once;
    the provider gets the answer it expects (a bad signature: 400 and nothing posted).
    Anyone can post here, so each address is limited (a refused provider retries later)."""

    http_method_names = ["post"]

    def post(self, request, provider):
        adapter = gateway.provider(provider)
        if adapter is None:
            raise Http404
        try:
            report = adapter.parse_notification(request.headers, request.body)
        except gateway.InvalidNotification as error:
            logger.warning("%s notification refused: %s", provider, error)
            answer = adapter.reject("invalid signature")
        else:
            services.apply_report(provider_code=provider, report=report)
            answer = adapter.acknowledge()
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
