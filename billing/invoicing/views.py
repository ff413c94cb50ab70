"""The billing page: balance or credit, this month, invoices, ledger, fapiao, chargeback."""

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import generic
from django_filters.views import FilterView

from accounts.mixins import OrganizationMixin
from accounts.permissions import Action, can
from billing.invoicing import account, documents, remittance
from billing.invoicing import services as invoicing
from billing.invoicing.consolidated_models import is_consolidated
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.filters import LedgerEntryFilter
from billing.invoicing.forms import BalanceAlertForm, FapiaoProfileForm
from billing.invoicing.models import FapiaoRequest, Invoice, LedgerEntry
from portal import csv
from portal.periods import business_zone

LEDGER_ROWS = 20


class BillingView(OrganizationMixin, generic.TemplateView):
    action = Action.VIEW_BILLING
    template_name = "billing/invoices/billing.html"

    def get_context_data(self, **kwargs):
        organization = self.organization
        invoices = (
            Invoice.objects.visible_to_customers()
            .for_member(self.membership, self.action)
            .prefetch_related("fapiao_requests", "fapiao_documents")
        )
        invoicing.outstanding_amounts(invoices)  # what partial payments left, per invoice
        summary = invoicing.billing_summary(organization, now=timezone.now())
        return super().get_context_data(
            summary=summary,
            on_operator_bill=is_consolidated(organization),
            invoices=invoices,
            ledger=account.ledger_rows(
                account.with_related(
                    LedgerEntry.objects.for_member(self.membership, self.action).order_by("-id")
                )[:LEDGER_ROWS]
            ),
            statement_months=account.statement_months(
                organization, timezone.localdate(timezone=business_zone())
            ),
            fapiao_requests=FapiaoRequest.objects.for_member(
                self.membership, self.action
            ).select_related("invoice"),
            chargeback_months=sorted(
                {i.period_start for i in invoices if i.kind == Invoice.Kind.INVOICE},
                reverse=True,
            ),
            can_manage=can(self.membership, Action.MANAGE_BILLING),
            remittance_reference=remittance.reference_for(organization),
            seller=settings.SELLER,
            profile_form=FapiaoProfileForm(instance=invoicing.fapiao_profile_for(organization)),
            balance_alert_form=BalanceAlertForm(
                initial={"threshold_amount": summary.low_balance_threshold_amount}
            ),
            **kwargs,
        )


def _download(content, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def invoice_download(invoice, fmt: str, language: str | None = None) -> HttpResponse:
    """The invoice as PDF (in `language`, else the reader's) or CSV (page and API)."""
    name = invoice.number or invoice.public_id
    if fmt == "pdf":
        pdf = documents.invoice_pdf(invoice, language)
        return _download(pdf, f"{name}.pdf", "application/pdf")
    return _download(documents.invoice_csv(invoice), f"{name}.csv", csv.CONTENT_TYPE)


def chargeback_download(statement, fmt: str, language: str | None = None) -> HttpResponse:
    name = f"chargeback-{statement.month:%Y-%m}"
    if fmt == "pdf":
        pdf = documents.chargeback_pdf(statement, language)
        return _download(pdf, f"{name}.pdf", "application/pdf")
    return _download(documents.chargeback_csv(statement), f"{name}.csv", csv.CONTENT_TYPE)


def statement_download(statement, fmt: str, language: str | None = None) -> HttpResponse:
    name = f"statement-{statement.month:%Y-%m}"
    if fmt == "pdf":
        pdf = documents.statement_pdf(statement, language)
        return _download(pdf, f"{name}.pdf", "application/pdf")
    return _download(documents.statement_csv(statement), f"{name}.csv", csv.CONTENT_TYPE)


class InvoiceDownloadView(OrganizationMixin, generic.View):
    action = Action.VIEW_BILLING

    def get(self, request, invoice, fmt):
        queryset = Invoice.objects.visible_to_customers().for_member(self.membership, self.action)
        invoice = get_object_or_404(queryset, public_id=invoice)
        return invoice_download(invoice, fmt, request.GET.get("language"))


def parse_month(year: int, month: int) -> date:
    if not 1 <= month <= 12:
        raise Http404
    return date(year, month, 1)


class ChargebackDownloadView(OrganizationMixin, generic.View):
    action = Action.VIEW_BILLING

    def get(self, request, year, month, fmt):
        month = parse_month(int(year), int(month))
        statement = invoicing.chargeback_statement(self.organization, month)
        return chargeback_download(statement, fmt, request.GET.get("language"))


class ChargebackView(OrganizationMixin, generic.TemplateView):
    """A month's chargeback as a page: the department tree indented, amounts before VAT."""

    action = Action.VIEW_BILLING
    template_name = "billing/invoices/chargeback.html"

    def get_context_data(self, year, month, **kwargs):
        statement = invoicing.chargeback_statement(
            self.organization, parse_month(int(year), int(month))
        )
        tree = documents.department_tree(statement)
        return super().get_context_data(statement=statement, tree=tree, **kwargs)


class StatementDownloadView(OrganizationMixin, generic.View):
    """The statement of account of a month, PDF or CSV."""

    action = Action.VIEW_BILLING

    def get(self, request, year, month, fmt):
        month = parse_month(int(year), int(month))
        statement = account.statement_of_account(self.organization, month)
        return statement_download(statement, fmt, request.GET.get("language"))


class LedgerView(OrganizationMixin, FilterView):
    """Every ledger entry, newest first, 50 a page, filtered by days and kind; each described,
    with the balance after it and a link to its invoice or online payment."""

    action = Action.VIEW_BILLING
    filterset_class = LedgerEntryFilter
    template_name = "billing/invoices/ledger.html"
    paginate_by = 50

    def get_queryset(self):
        entries = LedgerEntry.objects.for_member(self.membership, self.action)
        return account.with_related(entries).order_by("-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = account.ledger_rows(context["object_list"])
        return context

    def render_to_response(self, context, **kwargs):
        status = 400 if self.filterset.errors else 200  # the errors are shown at their fields
        return super().render_to_response(context, status=status, **kwargs)


class LedgerExportView(OrganizationMixin, generic.View):
    """The filtered ledger as CSV, oldest first, streamed."""

    action = Action.VIEW_BILLING

    def get(self, request):
        entries = LedgerEntry.objects.for_member(self.membership, self.action)
        filtered = LedgerEntryFilter(request.GET, queryset=account.with_related(entries))
        if not filtered.is_valid():
            return HttpResponseBadRequest(_("The filters are not valid."))
        rows = documents.ledger_csv_rows(filtered.qs.order_by("id"))
        return csv.response(documents.LEDGER_COLUMNS, rows, "ledger.csv")


def fapiao_download(document: FapiaoDocument) -> FileResponse:
    """An issued fapiao's file (shared by the page and the API)."""
    return FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=document.filename,
        content_type=document.content_type,
    )


class FapiaoDownloadView(OrganizationMixin, generic.View):
    action = Action.VIEW_BILLING

    def get(self, request, fapiao):
        queryset = FapiaoDocument.objects.for_member(self.membership, self.action)
        return fapiao_download(get_object_or_404(queryset, public_id=fapiao))


class FapiaoProfileView(BillingView):
    """Saves the fapiao details; refused, the billing page again with the errors at their
    fields (a special VAT fapiao names each missing bank and address detail)."""

    action = Action.MANAGE_BILLING

    def post(self, request):
        form = FapiaoProfileForm(
            request.POST, instance=invoicing.fapiao_profile_for(self.organization)
        )
        if not form.is_valid():
            self.extra_context = {"profile_form": form}
            return self.render_to_response(self.get_context_data(), status=400)
        invoicing.save_fapiao_profile(
            actor=self.actor, organization=self.organization, data=form.cleaned_data
        )
        messages.success(request, _("Fapiao details saved."))
        return redirect("billing:billing")


class BalanceAlertView(OrganizationMixin, generic.View):
    action = Action.MANAGE_BILLING

    def post(self, request):
        form = BalanceAlertForm(request.POST)
        if form.is_valid():
            invoicing.set_low_balance_threshold(
                actor=self.actor,
                organization=self.organization,
                amount=form.cleaned_data["threshold_amount"],
            )
            messages.success(request, _("Low-balance alert saved."))
        else:
            for errors in form.errors.values():
                messages.error(request, " ".join(errors))
        return redirect("billing:billing")


class FapiaoRequestView(OrganizationMixin, generic.View):
    action = Action.MANAGE_BILLING

    def post(self, request, invoice):
        queryset = Invoice.objects.visible_to_customers().for_member(self.membership, self.action)
        invoice = get_object_or_404(queryset, public_id=invoice)
        try:
            invoicing.request_fapiao(actor=self.actor, invoice=invoice)
        except invoicing.InvoiceError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Fapiao requested."))
        return redirect("billing:billing")
