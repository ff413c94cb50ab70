"""Staff console of the operator's side: account managers and "My customers", four-eyes
proposals (propose, approve, reject), consolidated billing and the monthly settlements."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import AuditedAdmin, ReadOnlyAdmin, ReadOnlyMixin
from accounts.audit_trail import Actor
from accounts.mixins import add_service_errors
from accounts.models import Organization
from billing.invoicing.admin import form_page
from billing.invoicing.consolidated_models import ConsolidatedBilling, OperatorCharge
from billing.managed import proposals, settlement
from billing.managed.billing_system import billing_system
from billing.managed.customers import my_customers
from billing.managed.models import AccountManager, Proposal, Settlement, SettlementRow
from portal import csv
from portal.periods import month_of


@admin.register(AccountManager)
class AccountManagerAdmin(AuditedAdmin):
    list_display = ("organization", "user", "created_at")
    list_filter = (("user", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("organization", "user")
    search_fields = ("organization__name", "user__email")
    autocomplete_fields = ("organization",)
    change_list_template = "admin/billing/accountmanager/change_list.html"

    def get_urls(self):
        return [
            path("my-customers/", self.admin_site.admin_view(self.my_customers_view),
                 name="billing_accountmanager_my_customers"),
            path("my-customers/csv/", self.admin_site.admin_view(self.my_customers_csv),
                 name="billing_accountmanager_my_customers_csv"),
            *super().get_urls(),
        ]  # fmt: skip

    def my_customers_view(self, request):
        context = {
            **self.admin_site.each_context(request),
            "title": _("My customers"),
            "opts": self.model._meta,
            "customers": my_customers(request.user, now=timezone.now()),
        }
        return render(request, "admin/billing/accountmanager/my_customers.html", context)

    def my_customers_csv(self, request):
        header = [
            _("Organization"), _("Currency"), _("Spend this month"), _("Packs held"),
            _("Overdue invoices"), _("Overdue amount"), _("Quota alerts this month"),
        ]  # fmt: skip
        rows = [
            [c.organization.name, c.currency, c.month_to_date_amount, len(c.entitlements),
             len(c.overdue_invoices), c.overdue_amount, len(c.quota_alerts)]
            for c in my_customers(request.user, now=timezone.now())
        ]  # fmt: skip
        month = month_of(timezone.now())
        return csv.response(header, rows, f"my-customers-{month:%Y-%m}.csv")


class ProposeForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Proposal.Kind.choices)
    organization = forms.ModelChoiceField(label=_("Organization"), queryset=Organization.objects)
    payload = forms.JSONField(
        label=_("Proposed terms"),
        help_text=_("JSON, as docs/packages.md (Operator side) describes for each kind."),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # An account manager proposes for the organizations assigned to them.
        self.fields["organization"].queryset = Organization.objects.filter(
            account_managers__user=user
        ).order_by("name")


class ApproveForm(forms.Form):
    """Shows what would take effect (read only) and asks to confirm."""

    proposed = forms.JSONField(
        label=_("Proposed terms"),
        disabled=True,
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
    )

    def __init__(self, *args, proposal, **kwargs):
        super().__init__(*args, initial={"proposed": proposal.payload}, **kwargs)


class RejectForm(ApproveForm):
    decision_reason = forms.CharField(label=_("Reason"), max_length=300)


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("__str__", "status", "proposed_by", "proposed_at", "decided_by",
                    "decided_at", "decide")  # fmt: skip
    list_filter = ("status", "kind")
    list_select_related = ("organization", "proposed_by", "decided_by")
    search_fields = ("organization__name",)
    readonly_fields = ("kind", "organization", "payload", "note", "status", "proposed_by",
                       "proposed_at", "decided_by", "decided_at", "decision_reason",
                       "offer_terms", "contract_discount", "decide")  # fmt: skip
    actions = ["approve_selected"]
    change_list_template = "admin/billing/proposal/change_list.html"

    @admin.display(description=_("Decide"))
    def decide(self, proposal):
        if proposal.status != Proposal.Status.PENDING:
            return ""
        return format_html_join(" · ", '<a href="{}">{}</a>', [
            (reverse("admin:billing_proposal_approve", args=[proposal.pk]), _("Approve")),
            (reverse("admin:billing_proposal_reject", args=[proposal.pk]), _("Reject")),
        ])  # fmt: skip

    def get_urls(self):
        return [
            path("propose/", self.admin_site.admin_view(self.propose_view),
                 name="billing_proposal_propose"),
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view),
                 name="billing_proposal_approve"),
            path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view),
                 name="billing_proposal_reject"),
            *super().get_urls(),
        ]  # fmt: skip

    def propose_view(self, request):
        form = ProposeForm(request.POST or None, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                proposals.propose(
                    actor=Actor.from_request(request), organization=data["organization"],
                    kind=data["kind"], payload=data["payload"], note=data["note"],
                )  # fmt: skip
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Proposed: a second staff member approves it."))
                return redirect(reverse("admin:billing_proposal_changelist"))
        return form_page(self, request, form, _("Propose negotiated terms"))

    def _decision(self, request, pk, form_class, title, act):
        if not request.user.has_perm("billing.change_proposal"):
            raise PermissionDenied
        proposal = get_object_or_404(Proposal.objects.select_related("organization"), pk=pk)
        form = form_class(request.POST if request.method == "POST" else None, proposal=proposal)
        if form.is_valid():
            try:
                act(proposal, form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Done."))
                return redirect(reverse("admin:billing_proposal_changelist"))
        return form_page(self, request, form, f"{title}: {proposal}", proposal)

    def approve_view(self, request, pk):
        return self._decision(
            request, pk, ApproveForm, _("Approve proposal"),
            lambda proposal, data: proposals.approve(
                actor=Actor.from_request(request), proposal=proposal
            ),
        )  # fmt: skip

    def reject_view(self, request, pk):
        return self._decision(
            request, pk, RejectForm, _("Reject proposal"),
            lambda proposal, data: proposals.reject(
                actor=Actor.from_request(request), proposal=proposal,
                reason=data["decision_reason"],
            ),
        )  # fmt: skip

    @admin.action(description=_("Approve the selected proposals"))
    def approve_selected(self, request, queryset):
        if not request.user.has_perm("billing.change_proposal"):
            raise PermissionDenied
        for proposal in queryset:
            try:
                proposals.approve(actor=Actor.from_request(request), proposal=proposal)
            except ValidationError as error:
                messages.error(request, f"{proposal}: {' '.join(error.messages)}")
            else:
                messages.success(request, _("%(proposal)s approved.") % {"proposal": proposal})


class ConsolidatedBillingForm(forms.ModelForm):
    class Meta:
        model = ConsolidatedBilling
        fields = ("organization", "enabled", "operator_account_number")

    def clean(self):
        data = super().clean()
        try:
            settlement.check_setting(
                data.get("organization") or getattr(self.instance, "organization", None),
                data.get("enabled", False),
                data.get("operator_account_number", ""),
            )
        except ValidationError as error:
            add_service_errors(self, error)
        return data


@admin.register(ConsolidatedBilling)
class ConsolidatedBillingAdmin(admin.ModelAdmin):
    """Saved through billing.managed.settlement.set_consolidated_billing (audited)."""

    form = ConsolidatedBillingForm
    list_display = ("organization", "enabled", "operator_account_number", "updated_by",
                    "updated_at")  # fmt: skip
    list_filter = ("enabled",)
    search_fields = ("organization__name", "operator_account_number")
    autocomplete_fields = ("organization",)

    def has_delete_permission(self, request, obj=None):
        return False  # turn it off instead: the settlements keep their rows

    def get_readonly_fields(self, request, obj=None):
        return ("organization",) if obj else ()

    def save_model(self, request, obj, form, change):
        saved = settlement.set_consolidated_billing(
            actor=Actor.from_request(request),
            organization=obj.organization,
            enabled=obj.enabled,
            operator_account_number=obj.operator_account_number,
        )
        obj.pk = saved.pk


@admin.register(OperatorCharge)
class OperatorChargeAdmin(ReadOnlyAdmin):
    """Packs and plan fees of organizations on the consolidated bill: the settlement of the
    month they were charged bills them (billing.sales.services.bill_purchase makes them)."""

    list_display = ("public_id", "organization", "category", "description", "subtotal_amount",
                    "tax_amount", "total_amount", "charged_at")  # fmt: skip
    list_filter = ("category",)
    search_fields = ("public_id", "organization__name", "organization__public_id")
    list_select_related = ("organization",)
    date_hierarchy = "charged_at"


class SettlementRowInline(ReadOnlyMixin, admin.TabularInline):
    model = SettlementRow
    fields = ("organization", "operator_account_number", "usage_amount", "packs_amount",
              "plan_fees_amount", "adjustments_amount", "subtotal_amount", "tax_amount",
              "total_amount")  # fmt: skip
    readonly_fields = fields
    extra = 0


@admin.register(SettlementRow)
class SettlementRowAdmin(ReadOnlyAdmin):
    """Every organization's rows, month after month (also inline on their settlement)."""

    list_display = ("settlement", "organization", "operator_account_number", "subtotal_amount",
                    "tax_amount", "total_amount")  # fmt: skip
    list_filter = ("settlement__month", "settlement__status")
    list_select_related = ("settlement", "organization")
    search_fields = ("organization__name", "operator_account_number")


class BuildForm(forms.Form):
    month = forms.DateField(
        label=_("Month"), input_formats=["%Y-%m"], help_text=_("YYYY-MM, a month that has ended.")
    )

    def clean_month(self):
        month = self.cleaned_data["month"]
        if month >= month_of(timezone.now()):
            raise ValidationError(_("This month has not ended yet."))
        return month


@admin.register(Settlement)
class SettlementAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "status", "attempts", "next_attempt_at", "ack_id",
                    "acknowledged_at", "files")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("ack_id", "idempotency_key", "rows__organization__name")
    readonly_fields = (
        "month", "idempotency_key", "status", "attempts", "next_attempt_at", "last_error",
        "ack_id", "acknowledged_at", "created_at", "files",
    )  # fmt: skip
    fields = readonly_fields
    inlines = [SettlementRowInline]
    actions = ["push_now"]
    change_list_template = "admin/billing/settlement/change_list.html"

    @admin.display(description=_("Files"))
    def files(self, obj):
        return format_html_join(" · ", '<a href="{}">{}</a>', [
            (reverse("admin:billing_settlement_csv", args=[obj.pk]), "CSV"),
            (reverse("admin:billing_settlement_json", args=[obj.pk]), "JSON"),
        ])  # fmt: skip

    def get_urls(self):
        return [
            path("<int:pk>/csv/", self.admin_site.admin_view(self.csv_view),
                 name="billing_settlement_csv"),
            path("<int:pk>/json/", self.admin_site.admin_view(self.json_view),
                 name="billing_settlement_json"),
            path("build/", self.admin_site.admin_view(self.build_view),
                 name="billing_settlement_build"),
            *super().get_urls(),
        ]  # fmt: skip

    def csv_view(self, request, pk):
        # The stored file (made by portal.csv when the month was built): the bytes sent.
        found = get_object_or_404(Settlement, pk=pk)
        response = HttpResponse(found.csv_text, content_type=csv.CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="settlement-{found}.csv"'
        return response

    def json_view(self, request, pk):
        found = get_object_or_404(Settlement, pk=pk)
        response = JsonResponse(found.document, json_dumps_params={"ensure_ascii": False})
        response["Content-Disposition"] = f'attachment; filename="settlement-{found}.json"'
        return response

    def build_view(self, request):
        if not request.user.has_perm("billing.change_settlement"):
            raise PermissionDenied
        form = BuildForm(request.POST or None)
        if form.is_valid():
            built = settlement.build_settlement(month=form.cleaned_data["month"])
            messages.success(request, _("Settlement %(month)s ready.") % {"month": built})
            return redirect(reverse("admin:billing_settlement_change", args=[built.pk]))
        return form_page(self, request, form, _("Build a month's settlement"))

    @admin.action(description=_("Send the selected settlements now"))
    def push_now(self, request, queryset):
        system = billing_system()
        if system is None:
            messages.error(request, _("The operator's billing system is not configured."))
            return
        for chosen in queryset:
            if settlement.push_settlement(chosen, system=system, now=timezone.now()):
                messages.success(request, _("%(month)s acknowledged.") % {"month": chosen})
            else:
                chosen.refresh_from_db()
                messages.error(request, f"{chosen}: {chosen.last_error}")
