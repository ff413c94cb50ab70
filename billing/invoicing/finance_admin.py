"""Staff console for money in and 发票 out: the bank-statement queue (import, assign, confirm),
remittance references, issued fapiao files (attach, or have the e-fapiao provider issue
them), and the overdue invoices with the notices each was sent."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import ReadOnlyMixin
from accounts.audit_trail import Actor
from accounts.mixins import add_service_errors
from billing.invoicing import fapiao, statements, transfers
from billing.invoicing import services as invoicing
from billing.invoicing.admin import form_page
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.models import (
    PAYABLE_KINDS,
    BillingAccount,
    FapiaoRequest,
    Invoice,
    OverdueInvoice,
    RemittanceReference,
)
from notifications.models import Notification
from portal.money import format_money

STATEMENT_MAX_BYTES = 5 * 1024 * 1024


class StatementImportForm(forms.Form):
    statement = forms.FileField(
        label=_("Bank statement (CSV)"),
        help_text=_(
            "UTF-8 or GBK. Columns (Chinese or English headers): transaction id, date, amount, "
            "payer name, payer account, memo. Lines already imported are skipped."
        ),
    )

    def clean_statement(self):
        upload = self.cleaned_data["statement"]
        if upload.size > STATEMENT_MAX_BYTES:
            raise ValidationError(_("At most 5 MB per file."))
        try:
            rows, errors = statements.read_statement(upload.read(), currency="CNY")
        except statements.StatementError as error:
            raise ValidationError(str(error)) from None
        if errors:  # nothing is imported until every row reads
            raise ValidationError([str(error) for error in errors])
        self.rows = rows
        return upload


class AssignForm(forms.Form):
    organization = forms.ModelChoiceField(label=_("Organization"), queryset=BillingAccount.objects)
    invoice = forms.ModelChoiceField(
        label=_("Invoice paid"),
        queryset=Invoice.objects.filter(kind__in=PAYABLE_KINDS, status=Invoice.Status.ISSUED),
        required=False,
        help_text=_(
            "An open invoice (postpaid) or purchase invoice (token pack). Empty: the oldest "
            "open invoice of a postpaid organization, or one the memo names or the amount matches."
        ),
    )


class IgnoreForm(forms.Form):
    staff_note = forms.CharField(label=_("Why is this no customer's payment?"), max_length=300)


class QueueFilter(admin.SimpleListFilter):
    """Open lines (to assign or confirm) unless staff ask for others."""

    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("open", _("To assign or confirm")), ("all", _("All lines"))]

    def choices(self, changelist):
        for value, label in self.lookup_choices:  # no "All" of Django's: "open" is the default
            yield {
                "selected": self.value() == value or (self.value() is None and value == "open"),
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() in (None, "open"):
            return queryset.filter(
                status__in=[BankStatementLine.Status.UNMATCHED, BankStatementLine.Status.SUGGESTED,
                            BankStatementLine.Status.MATCHED]
            )  # fmt: skip
        return queryset


@admin.register(BankStatementLine)
class BankStatementLineAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The bank-statement queue: lines wait here until staff confirm (post) or set them aside."""

    list_display = ("booked_on", "bank_transaction_id", "amount_shown", "payer_name", "memo",
                    "status", "match", "organization", "invoice", "line_actions")  # fmt: skip
    list_filter = (QueueFilter, "status", "match", "booked_on")
    search_fields = ("bank_transaction_id", "payer_name", "payer_account", "memo",
                     "organization__name", "organization__legal_name")  # fmt: skip
    list_select_related = ("organization", "invoice")
    actions = ["post_lines"]
    change_list_template = "admin/billing/bankstatementline/change_list.html"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("billing.view_ledgerentry")

    @admin.display(description=_("Amount"), ordering="amount")
    def amount_shown(self, line):
        return format_money(line.amount, line.currency)

    @admin.display(description=_("Actions"))
    def line_actions(self, line):
        if line.status == BankStatementLine.Status.POSTED:
            return ""
        links = [(reverse("admin:billing_bankstatementline_assign", args=[line.pk]), _("Assign")),
                 (reverse("admin:billing_bankstatementline_ignore", args=[line.pk]),
                  _("Set aside"))]  # fmt: skip
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="billing_bankstatementline_import"),
            path("<int:pk>/assign/", view(self.assign_view),
                 name="billing_bankstatementline_assign"),
            path("<int:pk>/ignore/", view(self.ignore_view),
                 name="billing_bankstatementline_ignore"),
            *super().get_urls(),
        ]  # fmt: skip

    def _require_posting(self, request):
        if not request.user.has_perm("billing.add_ledgerentry"):
            raise PermissionDenied

    def _queue(self):
        return redirect(reverse("admin:billing_bankstatementline_changelist"))

    def import_view(self, request):
        self._require_posting(request)
        form = StatementImportForm(request.POST or None, request.FILES or None)
        if form.is_valid():
            result = transfers.import_statement(
                actor=Actor.from_request(request),
                rows=form.rows,
                source_file=form.cleaned_data["statement"].name,
            )
            Status = BankStatementLine.Status
            messages.success(
                request,
                _("%(new)d new lines (%(matched)d matched by reference, %(suggested)d suggested, "
                  "%(unmatched)d to assign); %(duplicates)d imported before.")
                % {"new": len(result.created), "matched": result.count(Status.MATCHED),
                   "suggested": result.count(Status.SUGGESTED),
                   "unmatched": result.count(Status.UNMATCHED), "duplicates": result.duplicates},
            )  # fmt: skip
            return self._queue()
        return form_page(self, request, form, _("Import a bank statement"), multipart=True)

    def _line_form(self, request, pk, form_class, title, act, initial=None):
        self._require_posting(request)
        line = get_object_or_404(BankStatementLine, pk=pk)
        form = form_class(request.POST or None, initial=initial)
        if form.is_valid():
            try:
                act(line, form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Done."))
                return self._queue()
        return form_page(self, request, form, f"{title}: {line}", line)

    def assign_view(self, request, pk):
        return self._line_form(
            request, pk, AssignForm, _("Assign a bank transfer"),
            lambda line, data: transfers.assign_line(
                actor=Actor.from_request(request), line=line,
                organization=data["organization"], invoice=data["invoice"],
            ),
        )  # fmt: skip

    def ignore_view(self, request, pk):
        return self._line_form(
            request, pk, IgnoreForm, _("Set a bank transfer aside"),
            lambda line, data: transfers.ignore_line(
                actor=Actor.from_request(request), line=line, note=data["staff_note"]
            ),
        )  # fmt: skip

    @admin.action(description=_("Confirm and post the selected lines"))
    def post_lines(self, request, queryset):
        self._require_posting(request)
        posted = 0
        for line in queryset.select_related("organization"):
            try:
                transfers.post_line(actor=Actor.from_request(request), line=line)
            except ValidationError as error:
                messages.error(request, f"{line}: {' '.join(error.messages)}")
            else:
                posted += 1
        if posted:
            messages.success(request, _("%(count)d lines posted.") % {"count": posted})


class FapiaoAttachForm(forms.Form):
    number = forms.CharField(label=_("Fapiao number"), max_length=40)
    issued_on = forms.DateField(label=_("Fapiao date"), help_text="YYYY-MM-DD")
    file = forms.FileField(label=_("Fapiao file (PDF or OFD)"))


@admin.register(FapiaoDocument)
class FapiaoDocumentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Issued fapiao, blue and red-letter; added from the fapiao queue (attach or provider)."""

    list_display = ("number", "kind", "issued_on", "invoice", "reverses", "file_format",
                    "provider", "created_at")  # fmt: skip
    list_filter = ("kind", "file_format", "issued_on")
    search_fields = ("number", "invoice__number", "invoice__organization__name")
    list_select_related = ("invoice", "reverses")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("attach/<int:pk>/", view(self.attach_view), name="billing_fapiaodocument_attach"),
            *super().get_urls(),
        ]  # fmt: skip

    def _request(self, request, pk):
        if not request.user.has_perm("billing.change_fapiaorequest"):
            raise PermissionDenied
        return get_object_or_404(FapiaoRequest.objects.select_related("invoice"), pk=pk)

    def attach_view(self, request, pk):
        """Staff attach a fapiao issued elsewhere (the tax bureau's platform, say)."""
        fapiao_request = self._request(request, pk)
        form = FapiaoAttachForm(request.POST or None, request.FILES or None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                fapiao.attach_fapiao(
                    actor=Actor.from_request(request), fapiao_request=fapiao_request,
                    upload=data["file"], number=data["number"], issued_on=data["issued_on"],
                )  # fmt: skip
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Fapiao attached; the customer is told."))
                return redirect(reverse("admin:billing_fapiaorequest_changelist"))
        title = _("Attach a fapiao: %(request)s") % {"request": fapiao_request.invoice}
        return form_page(self, request, form, title, fapiao_request, multipart=True)


DUNNING_EVENTS = ("invoice.issued", "invoice.due_soon", "invoice.overdue")


@admin.register(OverdueInvoice)
class OverdueInvoiceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Issued invoices past their due date, oldest first, with the notices each was sent
    (notifications.announce: bell and email to owners and billing members) and when
    staff may suspend."""

    list_display = ("number", "organization", "total_shown", "outstanding", "due_at",
                    "dunning_history", "suspension")  # fmt: skip
    list_filter = ("period_start", "currency")
    search_fields = ("number", "organization__name", "organization__legal_name")
    list_select_related = ("organization",)
    ordering = ["due_at", "pk"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("billing.view_invoice")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(kind=Invoice.Kind.INVOICE, status=Invoice.Status.ISSUED,
                    due_at__lt=timezone.now())
        )  # fmt: skip

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        ids = [invoice.public_id for invoice in changelist.result_list]
        sent = (
            Notification.objects.filter(data__invoice_id__in=ids, event_type__in=DUNNING_EVENTS)
            .order_by("created_at")
            .values_list("data__invoice_id", "event_type", "created_at")
        )
        self._history = {}
        for invoice_id, event_type, at in sent:
            events = self._history.setdefault(invoice_id, {})
            first, count = events.get(event_type, (at, 0))
            events[event_type] = (first, count + 1)
        return changelist

    @admin.display(description=_("Total"))
    def total_shown(self, invoice):
        return format_money(invoice.total_amount, invoice.currency)

    @admin.display(description=_("Outstanding"))
    def outstanding(self, invoice):
        return format_money(invoicing.outstanding_amount(invoice), invoice.currency)

    @admin.display(description=_("Notices sent"))
    def dunning_history(self, invoice):
        events = getattr(self, "_history", {}).get(invoice.public_id, {})
        rows = [
            (event_type, timezone.localtime(first).strftime("%Y-%m-%d %H:%M"), count)
            for event_type, (first, count) in sorted(events.items(), key=lambda e: e[1][0])
        ]
        if not rows:
            return _("none")
        return format_html_join(mark_safe("<br>"), "{} {} (x{})", rows)

    @admin.display(description=_("May suspend from"))
    def suspension(self, invoice):
        allowed = invoicing.suspension_allowed_after(invoice.organization)
        return timezone.localtime(allowed).strftime("%Y-%m-%d") if allowed else "—"


@admin.register(RemittanceReference)
class RemittanceReferenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Each organization's 识别码, made on first use and never changed: look one up from a
    bank memo here."""

    list_display = ("code", "organization", "created_at")
    list_filter = ("created_at",)
    search_fields = ("code", "organization__name", "organization__legal_name")
    list_select_related = ("organization",)
