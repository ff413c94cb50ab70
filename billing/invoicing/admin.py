"""Staff console for money: invoices (review drafts, issue, void, credit notes, payments,
overdue list and suspension), the ledger and top-ups, credit terms, and the fapiao queue."""

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import AuditedAdmin, ReadOnlyAdmin, ReadOnlyMixin
from accounts.audit_trail import Actor
from accounts.mixins import add_service_errors
from billing.invoicing import documents, fapiao, ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import (
    PAYABLE_KINDS,
    BalanceAlert,
    BillingAccount,
    FapiaoProfile,
    FapiaoRequest,
    Invoice,
    InvoiceLine,
    InvoiceNumberCounter,
    LedgerBalance,
    LedgerEntry,
)
from portal.money import format_money


class InvoiceLineInline(ReadOnlyMixin, admin.TabularInline):
    model = InvoiceLine
    fields = ("position", "service_month", "department_label", "description", "requests",
              "input_tokens", "output_tokens", "discount_percent", "amount",
              "cost_amount")  # fmt: skip
    readonly_fields = fields
    extra = 0


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=Invoice.Status.ISSUED, due_at__lt=timezone.now())
        return queryset


class VoidForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class CreditNoteForm(forms.Form):
    net_amount = forms.DecimalField(label=_("Credit before VAT"), max_digits=16, decimal_places=2)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class IssueForm(forms.Form):
    reviewed = forms.BooleanField(label=_("I reviewed the draft's lines and totals"))


class PaymentForm(forms.Form):
    reference = forms.CharField(label=_("Bank transfer reference"), max_length=100)


class TopUpForm(forms.Form):
    organization = forms.ModelChoiceField(label=_("Organization"), queryset=BillingAccount.objects)
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2, min_value=0.01)
    reference = forms.CharField(
        label=_("Bank transfer reference (对公转账)"),
        max_length=100,
        help_text=_("As on the bank receipt; the same reference is accepted once."),
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class CloseMonthForm(forms.Form):
    month = forms.CharField(
        label=_("Month"),
        max_length=7,
        help_text=_("YYYY-MM, a month that has ended."),
    )
    mode = forms.ChoiceField(
        label=_("Then"),
        choices=[("issue", _("Issue its invoice at once")),
                 ("draft", _("Make a draft to review, then issue it from the invoice's page"))],
        initial="issue",
        required=False,
        widget=forms.RadioSelect,
    )  # fmt: skip

    def clean_month(self):
        try:
            return datetime.strptime(self.cleaned_data["month"], "%Y-%m").date()
        except ValueError:
            raise ValidationError(_("A month as YYYY-MM, e.g. 2026-11.")) from None


def form_page(model_admin, request, form, title, original=None, multipart=False):
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "opts": model_admin.model._meta,
        "original": original,
        "multipart": multipart,
    }
    return render(request, "admin/billing/form_page.html", context)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("__str__", "organization", "kind", "period_start", "status", "total_amount",
                    "currency", "due_at")  # fmt: skip
    list_filter = ("status", "kind", OverdueFilter, "period_start")
    search_fields = ("number", "organization__name", "organization__legal_name")
    list_select_related = ("organization",)
    inlines = [InvoiceLineInline]
    actions = ["issue_drafts", "suspend_organizations"]
    readonly_fields = ("staff_actions",)

    def get_fields(self, request, obj=None):
        editable = [f.name for f in Invoice._meta.fields if f.editable]
        return ["staff_actions", *editable, "usage_from", "usage_through_event_id"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only pages; changes go through the actions below

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Actions"))
    def staff_actions(self, invoice):
        links = [(reverse("admin:billing_invoice_pdf", args=[invoice.pk]), _("PDF"))]
        if invoice.status == Invoice.Status.DRAFT:
            links.append((reverse("admin:billing_invoice_issue", args=[invoice.pk]), _("Issue")))
        if invoice.status == Invoice.Status.ISSUED and invoice.kind in PAYABLE_KINDS:
            links += [
                (reverse("admin:billing_invoice_payment", args=[invoice.pk]), _("Record payment")),
                (reverse("admin:billing_invoice_void", args=[invoice.pk]), _("Void")),
            ]
        if invoice.kind == Invoice.Kind.INVOICE and invoice.status in ("issued", "paid"):
            links.append(
                (reverse("admin:billing_invoice_credit", args=[invoice.pk]), _("Credit note"))
            )
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def get_urls(self):
        views = [("pdf", self.pdf_view), ("void", self.void_view),
                 ("credit", self.credit_view), ("payment", self.payment_view),
                 ("issue", self.issue_view)]  # fmt: skip
        return [
            *[
                path(
                    f"<int:pk>/{name}/",
                    self.admin_site.admin_view(view),
                    name=f"billing_invoice_{name}",
                )
                for name, view in views
            ],
            *super().get_urls(),
        ]

    def _invoice(self, request, pk):
        if not request.user.has_perm("billing.change_invoice"):
            raise PermissionDenied
        return get_object_or_404(Invoice.objects.select_related("organization"), pk=pk)

    def _back(self, invoice):
        return redirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))

    def pdf_view(self, request, pk):
        invoice = self._invoice(request, pk)
        return HttpResponse(documents.invoice_pdf(invoice), content_type="application/pdf")

    def _form_action(self, request, pk, form_class, title, act):
        invoice = self._invoice(request, pk)
        form = form_class(request.POST or None)
        if form.is_valid():
            try:
                act(invoice, form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Done."))
                return self._back(invoice)
        return form_page(self, request, form, f"{title}: {invoice}", invoice)

    def issue_view(self, request, pk):
        return self._form_action(
            request, pk, IssueForm, _("Issue invoice"),
            lambda invoice, data: invoicing.issue_invoice(
                actor=Actor.from_request(request), invoice=invoice
            ),
        )  # fmt: skip

    def void_view(self, request, pk):
        return self._form_action(
            request, pk, VoidForm, _("Void invoice"),
            lambda invoice, data: invoicing.void_invoice(
                actor=Actor.from_request(request), invoice=invoice, reason=data["reason"]
            ),
        )  # fmt: skip

    def credit_view(self, request, pk):
        return self._form_action(
            request, pk, CreditNoteForm, _("Credit note"),
            lambda invoice, data: invoicing.create_credit_note(
                actor=Actor.from_request(request), invoice=invoice,
                net_amount=data["net_amount"], reason=data["reason"],
            ),
        )  # fmt: skip

    def payment_view(self, request, pk):
        return self._form_action(
            request, pk, PaymentForm, _("Record payment"),
            lambda invoice, data: invoicing.record_payment(
                actor=Actor.from_request(request), organization=invoice.organization,
                amount=invoice.total_amount, provider="bank_transfer",
                reference=data["reference"], invoice=invoice,
            ),
        )  # fmt: skip

    @admin.action(description=_("Issue the selected drafts"))
    def issue_drafts(self, request, queryset):
        issued = 0
        for invoice in queryset.filter(status=Invoice.Status.DRAFT):
            invoicing.issue_invoice(actor=Actor.from_request(request), invoice=invoice)
            issued += 1
        messages.success(request, _("%(count)d invoices issued.") % {"count": issued})

    @admin.action(description=_("Suspend the organizations of the selected overdue invoices"))
    def suspend_organizations(self, request, queryset):
        for organization in {invoice.organization for invoice in queryset}:
            try:
                invoicing.suspend_for_overdue(
                    actor=Actor.from_request(request), organization=organization
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, _("%(org)s suspended.") % {"org": organization})


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at", "organization", "kind", "amount", "balance_after", "currency", "reference"
    )  # fmt: skip
    list_filter = ("kind", "created_at")
    search_fields = ("reference", "organization__name")
    list_select_related = ("organization",)
    change_list_template = "admin/billing/ledgerentry/change_list.html"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        return [
            path("top-up/", self.admin_site.admin_view(self.top_up_view),
                 name="billing_ledgerentry_top_up"),
            *super().get_urls(),
        ]  # fmt: skip

    def top_up_view(self, request):
        if not request.user.has_perm("billing.add_ledgerentry"):
            raise PermissionDenied
        form = TopUpForm(request.POST or None, initial=request.GET.dict())
        if form.is_valid():
            data = form.cleaned_data
            try:
                ledger.record_top_up(
                    actor=Actor.from_request(request), organization=data["organization"],
                    amount=data["amount"], reference=data["reference"], note=data["note"],
                )  # fmt: skip
            except IntegrityError:
                form.add_error("reference", _("This reference is already recorded."))
            else:
                messages.success(request, _("Top-up recorded."))
                return redirect(reverse("admin:billing_ledgerentry_changelist"))
        return form_page(self, request, form, _("Record a top-up (bank transfer)"))


class CreditTermsForm(forms.ModelForm):
    class Meta:
        model = BillingAccount
        fields = ("payment_mode", "credit_limit_amount")

    def clean(self):
        data = super().clean()
        try:
            invoicing.check_payment_mode(self.instance, data.get("payment_mode"))
        except ValidationError as error:
            add_service_errors(self, error)
        return data


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    """Payment mode and credit limit, changed through invoicing.services.set_credit_terms."""

    form = CreditTermsForm
    list_display = ("name", "legal_name", "payment_mode", "credit_limit_amount", "balance",
                    "status")  # fmt: skip
    list_filter = ("payment_mode", "status")
    search_fields = ("name", "legal_name", "uscc")
    readonly_fields = ("name", "legal_name", "balance", "top_up", "close_month")
    fields = ("name", "legal_name", "payment_mode", "credit_limit_amount", "balance", "top_up",
              "close_month")  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Balance"))
    def balance(self, organization):
        return format_money(ledger.balance(organization), organization.currency)

    @admin.display(description=_("Top-up"))
    def top_up(self, organization):
        url = reverse("admin:billing_ledgerentry_top_up")
        return format_html('<a href="{}?organization={}">{}</a>', url, organization.pk,
                           _("Record a top-up"))  # fmt: skip

    @admin.display(description=_("Invoices"))
    def close_month(self, organization):
        url = reverse("admin:billing_billingaccount_close_month", args=[organization.pk])
        return format_html('<a href="{}">{}</a>', url, _("Close month…"))

    def get_urls(self):
        return [
            path("<int:pk>/close-month/", self.admin_site.admin_view(self.close_month_view),
                 name="billing_billingaccount_close_month"),
            *super().get_urls(),
        ]  # fmt: skip

    def close_month_view(self, request, pk):
        """Close a month for this organization and issue its invoice (as `manage.py
        close_month`); audited as billing.month_closed."""
        if not request.user.has_perm("billing.change_invoice"):
            raise PermissionDenied
        organization = get_object_or_404(BillingAccount, pk=pk)
        form = CloseMonthForm(request.POST or None)
        if form.is_valid():
            close = (
                invoicing.draft_month
                if form.cleaned_data["mode"] == "draft"
                else invoicing.close_and_issue_month
            )
            try:
                invoice = close(
                    actor=Actor.from_request(request), organization=organization,
                    month=form.cleaned_data["month"], now=timezone.now(),
                )  # fmt: skip
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                if invoice is None:
                    messages.info(request, _("Nothing to bill for that month."))
                    return redirect(
                        reverse("admin:billing_billingaccount_change", args=[organization.pk])
                    )
                if invoice.status == Invoice.Status.DRAFT:
                    messages.success(request, _("Draft made: review it, then issue it."))
                else:
                    messages.success(
                        request, _("Invoice %(number)s issued.") % {"number": invoice.number}
                    )
                return redirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))
        title = _("Close a month: %(organization)s") % {"organization": organization.name}
        return form_page(self, request, form, title, organization)

    def save_model(self, request, obj, form, change):
        invoicing.set_credit_terms(
            actor=Actor.from_request(request),
            organization=obj,
            payment_mode=form.cleaned_data["payment_mode"],
            credit_limit_amount=form.cleaned_data["credit_limit_amount"],
        )


class FapiaoDecisionForm(forms.ModelForm):
    class Meta:
        model = FapiaoRequest
        fields = ("status", "fapiao_number", "fapiao_date", "staff_note")

    def clean(self):
        data = super().clean()
        if data.get("status") == FapiaoRequest.Status.ISSUED and not (
            data.get("fapiao_number") and data.get("fapiao_date")
        ):
            raise forms.ValidationError(_("An issued fapiao needs its number and date."))
        if data.get("status") == FapiaoRequest.Status.REJECTED and not data.get("staff_note"):
            raise forms.ValidationError(_("Say why the request is rejected."))
        return data


@admin.register(FapiaoRequest)
class FapiaoRequestAdmin(admin.ModelAdmin):
    """The fapiao queue: open requests first; staff issue the fapiao elsewhere and record it."""

    form = FapiaoDecisionForm
    list_display = ("created_at", "invoice", "title", "taxpayer_id", "fapiao_type", "status",
                    "attach")  # fmt: skip
    actions = ["issue_with_provider"]
    list_filter = ("status", "fapiao_type")
    search_fields = ("invoice__number", "title", "taxpayer_id", "fapiao_number")
    list_select_related = ("invoice",)
    readonly_fields = ("invoice", "title", "taxpayer_id", "bank_name", "bank_account",
                       "registered_address", "registered_phone", "fapiao_type", "requested_by",
                       "created_at")  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        invoicing.decide_fapiao_request(actor=Actor.from_request(request), fapiao_request=obj)

    @admin.display(description=_("Fapiao file"))
    def attach(self, fapiao_request):
        if fapiao_request.status == FapiaoRequest.Status.REJECTED:
            return ""
        url = reverse("admin:billing_fapiaodocument_attach", args=[fapiao_request.pk])
        return format_html('<a href="{}">{}</a>', url, _("Attach…"))

    @admin.action(description=_("Issue with the e-fapiao provider"))
    def issue_with_provider(self, request, queryset):
        for fapiao_request in queryset.select_related("invoice"):
            try:
                document = fapiao.issue_with_provider(
                    actor=Actor.from_request(request), fapiao_request=fapiao_request
                )
            except ValidationError as error:
                messages.error(request, f"{fapiao_request.invoice}: {' '.join(error.messages)}")
            else:
                messages.success(request, _("Fapiao %(number)s issued.") % {"number": document})


@admin.register(FapiaoProfile)
class FapiaoProfileAdmin(AuditedAdmin):
    list_display = ("title", "organization", "taxpayer_id", "fapiao_type")
    list_filter = ("fapiao_type",)
    search_fields = ("title", "taxpayer_id", "organization__name")
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)


@admin.register(LedgerBalance)
class LedgerBalanceAdmin(ReadOnlyAdmin):
    """The running sum of each organization's ledger, moved only with each new entry."""

    list_display = ("organization", "amount", "updated_at")
    list_filter = ("updated_at",)
    search_fields = ("organization__name", "organization__legal_name")
    list_select_related = ("organization",)


@admin.register(InvoiceNumberCounter)
class InvoiceNumberCounterAdmin(ReadOnlyAdmin):
    """Gapless numbering: the last number given in each year, never edited by hand."""

    list_display = ("year", "last_number")
    list_filter = ("year",)
    search_fields = ("year",)


@admin.register(BalanceAlert)
class BalanceAlertAdmin(ReadOnlyAdmin):
    """Each organization's low-balance alert amount, as its billing members set it."""

    list_display = ("organization", "threshold_amount", "updated_at")
    list_filter = ("updated_at",)
    search_fields = ("organization__name", "organization__public_id")
    list_select_related = ("organization",)
