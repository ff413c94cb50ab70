"""REST: invoices (with PDF and CSV), balance, ledger, fapiao details and requests, chargeback."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_fields import OrganizationRelatedField
from accounts.mixins import OrganizationAPIMixin
from accounts.permissions import Action
from billing.invoicing import account
from billing.invoicing import services as invoicing
from billing.invoicing.documents import LANGUAGES
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.filters import LedgerEntryFilter
from billing.invoicing.models import (
    FapiaoProfile,
    FapiaoRequest,
    Invoice,
    InvoiceLine,
    LedgerEntry,
)
from billing.invoicing.views import (
    chargeback_download,
    fapiao_download,
    invoice_download,
    parse_month,
    statement_download,
)
from billing.packages.models import Entitlement


class LineCoverageSerializer(serializers.Serializer):
    """An entitlement that covered part of a line's usage (listed at 0)."""

    entitlement = serializers.CharField(help_text="The entitlement's id (ent_...).")
    reference = serializers.CharField(help_text="The purchase invoice number or plan period.")
    name_en = serializers.CharField()
    name_zh = serializers.CharField()
    unit = serializers.ChoiceField(choices=Entitlement.Unit.choices)
    units = serializers.DecimalField(max_digits=28, decimal_places=10)
    value = serializers.DecimalField(
        max_digits=24, decimal_places=10, help_text="The units' value at list price."
    )


class InvoiceLineSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="model_id", read_only=True, allow_null=True)
    department = serializers.CharField(source="department_label")
    project = serializers.CharField(source="project_label")
    coverage = LineCoverageSerializer(many=True, read_only=True)

    class Meta:
        model = InvoiceLine
        fields = ["position", "service_month", "department", "project", "model", "description",
                  "requests", "input_tokens", "output_tokens", "cached_input_tokens",
                  "discount_percent", "amount", "covered_amount", "overage_discount_amount",
                  "coverage"]  # fmt: skip


class InvoiceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    credited_invoice = serializers.SlugRelatedField(
        slug_field="public_id", read_only=True, allow_null=True
    )
    outstanding_amount = serializers.DecimalField(
        source="outstanding",
        max_digits=16,
        decimal_places=2,
        read_only=True,
        help_text="Still owed: the total less payments and credit notes (0 unless issued).",
    )

    class Meta:
        model = Invoice
        fields = ["id", "number", "kind", "status", "period_start", "period_end", "currency",
                  "subtotal_amount", "tax_rate", "tax_amount", "total_amount",
                  "outstanding_amount", "issued_at", "due_at", "paid_at", "voided_at",
                  "void_reason", "credited_invoice"]  # fmt: skip


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "lines"]


FILE = OpenApiResponse(OpenApiTypes.BINARY, description="The document.")
LANGUAGE = OpenApiParameter(
    "language", str, enum=list(LANGUAGES), required=False,
    description="The PDF's language (default: the request's).",
)  # fmt: skip


@extend_schema(tags=["billing"])
class InvoiceViewSet(OrganizationAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Issued invoices and credit notes of the current organization."""

    read_action = Action.VIEW_BILLING
    lookup_field = "public_id"
    lookup_url_kwarg = "invoice"
    queryset = Invoice.objects.visible_to_customers().select_related("credited_invoice")

    def get_serializer_class(self):
        return InvoiceDetailSerializer if self.action != "list" else InvoiceSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            queryset = queryset.prefetch_related("lines__model")
        return queryset

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        invoicing.outstanding_amounts(page)
        return page

    def get_object(self):
        invoice = super().get_object()
        invoicing.outstanding_amounts([invoice])
        return invoice

    @extend_schema(parameters=[LANGUAGE], responses={(200, "application/pdf"): FILE})
    @action(detail=True)
    def pdf(self, request, invoice=None):
        return invoice_download(self.get_object(), "pdf", request.GET.get("language"))

    @extend_schema(responses={(200, "text/csv"): FILE})
    @action(detail=True)
    def csv(self, request, invoice=None):
        return invoice_download(self.get_object(), "csv")


class BalanceSerializer(serializers.Serializer):
    payment_mode = serializers.CharField()
    currency = serializers.CharField()
    balance_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    credit_limit_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    spendable_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    month_to_date_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    forecast_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    low_balance_threshold_amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        help_text="A prepaid balance falling below this alerts the billing members.",
    )


@extend_schema(tags=["billing"])
class BalanceViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    """Balance (prepaid) or credit (postpaid), this month so far and its forecast."""

    read_action = Action.VIEW_BILLING
    serializer_class = BalanceSerializer
    queryset = Invoice.objects.none()  # nothing listed: one summary
    pagination_class = None

    @extend_schema(operation_id="billing_balance", responses=BalanceSerializer)
    def retrieve(self, request):
        summary = invoicing.billing_summary(self.organization, now=timezone.now())
        return Response(BalanceSerializer(summary).data)


class LedgerEntrySerializer(serializers.Serializer):
    """An entry as billing.invoicing.account.ledger_rows describes it."""

    id = serializers.CharField(source="entry.public_id")
    kind = serializers.ChoiceField(source="entry.kind", choices=LedgerEntry.Kind.choices)
    amount = serializers.DecimalField(source="entry.amount", max_digits=24, decimal_places=10)
    balance_after = serializers.DecimalField(
        source="entry.balance_after", max_digits=28, decimal_places=10,
        help_text="The organization's balance once this entry was recorded.",
    )  # fmt: skip
    currency = serializers.CharField(source="entry.currency")
    description = serializers.CharField(
        help_text='What the entry is, in the request\'s language: "Usage 2026-12-03, 72 calls".'
    )
    reference = serializers.CharField(source="entry.reference")
    note = serializers.CharField(source="entry.note")
    invoice = serializers.CharField(
        source="entry.invoice.public_id", allow_null=True, default=None,
        help_text="The invoice behind the entry (GET /invoices/{id}).",
    )  # fmt: skip
    invoice_number = serializers.CharField(allow_blank=True)
    payment = serializers.CharField(
        allow_blank=True, help_text="The online payment behind the entry (its public id)."
    )
    created_at = serializers.DateTimeField(source="entry.created_at")


@extend_schema(tags=["billing"])
class LedgerViewSet(OrganizationAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The ledger, newest first, paginated and filtered by business days and kind: positive
    amounts are in the organization's favour; each entry says what it is and the balance
    after it."""

    read_action = Action.VIEW_BILLING
    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerEntryFilter
    queryset = account.with_related(LedgerEntry.objects.order_by("-id"))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        rows = account.ledger_rows(page)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


class StatementLineSerializer(serializers.Serializer):
    day = serializers.DateField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    description = serializers.CharField()
    amount = serializers.DecimalField(max_digits=24, decimal_places=10)
    balance_after = serializers.DecimalField(max_digits=28, decimal_places=10)
    invoice_number = serializers.CharField(allow_blank=True)
    reference = serializers.CharField(allow_blank=True)


class StatementSerializer(serializers.Serializer):
    month = serializers.DateField()
    currency = serializers.CharField()
    opening_balance = serializers.DecimalField(max_digits=28, decimal_places=10)
    totals = serializers.DictField(
        child=serializers.DecimalField(max_digits=28, decimal_places=10),
        help_text="The month's sum of each kind of entry (top_up, usage_charge, invoice ...).",
    )
    closing_balance = serializers.DecimalField(max_digits=28, decimal_places=10)
    lines = StatementLineSerializer(
        many=True, help_text="The month's entries; usage charges added up per day."
    )


@extend_schema(tags=["billing"])
class StatementViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    """The statement of account of a month (YYYY-MM): opening balance, the month's entries,
    closing balance (opening plus the entries)."""

    read_action = Action.VIEW_BILLING
    serializer_class = StatementSerializer
    queryset = LedgerEntry.objects.none()  # a statement is computed, not stored
    pagination_class = None

    def _statement(self, month: str):
        year, number = month.split("-")
        return account.statement_of_account(self.organization, parse_month(int(year), int(number)))

    def retrieve(self, request, month=None):
        return Response(StatementSerializer(self._statement(month)).data)

    @extend_schema(responses={(200, "text/csv"): FILE})
    def csv(self, request, month=None):
        return statement_download(self._statement(month), "csv")

    @extend_schema(parameters=[LANGUAGE], responses={(200, "application/pdf"): FILE})
    def pdf(self, request, month=None):
        return statement_download(self._statement(month), "pdf", request.GET.get("language"))


class FapiaoDocumentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    invoice = serializers.SlugRelatedField(slug_field="public_id", read_only=True)
    reverses = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)

    class Meta:
        model = FapiaoDocument
        fields = ["id", "invoice", "kind", "number", "issued_on", "file_format", "reverses",
                  "created_at"]  # fmt: skip


@extend_schema(tags=["billing"])
class FapiaoDocumentViewSet(OrganizationAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Issued 发票 of the organization's invoices (red-letter ones name the fapiao they
    reverse); `file` downloads the PDF or OFD."""

    read_action = Action.VIEW_BILLING
    lookup_field = "public_id"
    lookup_url_kwarg = "fapiao"
    serializer_class = FapiaoDocumentSerializer
    queryset = FapiaoDocument.objects.select_related("invoice", "reverses")

    @extend_schema(responses={(200, "application/pdf"): FILE, (200, "application/ofd"): FILE})
    @action(detail=True)
    def file(self, request, fapiao=None):
        return fapiao_download(self.get_object())


class FapiaoProfileSerializer(serializers.ModelSerializer):
    updated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Null until the details are first saved."
    )

    class Meta:
        model = FapiaoProfile
        fields = [*FapiaoProfile.DETAILS, "updated_at"]
        extra_kwargs = {
            "taxpayer_id": {"help_text": "The buyer's 统一社会信用代码 (18 characters)."}
        }


@extend_schema(tags=["billing"])
class FapiaoProfileViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    """The organization's 发票 details, as the billing page edits them: until first saved,
    the legal name, USCC, address and phone of the organization. A special VAT fapiao needs
    the bank and address details; refused input is a 400 naming each field."""

    read_action = Action.VIEW_BILLING
    write_action = Action.MANAGE_BILLING
    serializer_class = FapiaoProfileSerializer
    queryset = FapiaoProfile.objects.none()  # one object: the organization's
    pagination_class = None

    def retrieve(self, request):
        return Response(self.get_serializer(invoicing.fapiao_profile_for(self.organization)).data)

    def update(self, request, partial=False):
        profile = invoicing.fapiao_profile_for(self.organization)
        serializer = self.get_serializer(profile, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        profile = invoicing.save_fapiao_profile(
            actor=self.actor, organization=self.organization, data=serializer.validated_data
        )
        return Response(self.get_serializer(profile).data)

    def partial_update(self, request):
        return self.update(request, partial=True)


class FapiaoRequestSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    invoice = OrganizationRelatedField(
        queryset=Invoice.objects.visible_to_customers(),
        help_text="The id of an issued invoice.",
        error_messages={"does_not_exist": "No such invoice."},
    )

    class Meta:
        model = FapiaoRequest
        fields = ["id", "invoice", "title", "taxpayer_id", "fapiao_type", "status",
                  "fapiao_number", "fapiao_date", "staff_note", "created_at"]  # fmt: skip
        read_only_fields = [f for f in fields if f != "invoice"]
        validators = []  # one request per invoice is the service's to check, in its transaction


@extend_schema(tags=["billing"])
class FapiaoRequestViewSet(
    OrganizationAPIMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Ask for a 发票 for an issued invoice, with the organization's fapiao details."""

    read_action = Action.VIEW_BILLING
    write_action = Action.MANAGE_BILLING
    serializer_class = FapiaoRequestSerializer
    queryset = FapiaoRequest.objects.select_related("invoice")

    def perform_create(self, serializer):
        serializer.instance = invoicing.request_fapiao(
            actor=self.actor, invoice=serializer.validated_data["invoice"]
        )


class ChargebackLineSerializer(serializers.Serializer):
    project = serializers.CharField()
    model = serializers.CharField()
    tokens = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    pack_value = serializers.DecimalField(
        max_digits=24,
        decimal_places=10,
        help_text="Drawn from token packs and plan allowances, at list price (not charged).",
    )


class ChargebackRowSerializer(serializers.Serializer):
    department_id = serializers.CharField(source="department.public_id", allow_null=True)
    code = serializers.CharField()
    name = serializers.CharField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    subtree_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    pack_value = serializers.DecimalField(max_digits=24, decimal_places=10)
    lines = ChargebackLineSerializer(many=True)


class ChargebackSerializer(serializers.Serializer):
    month = serializers.DateField()
    currency = serializers.CharField()
    invoice_id = serializers.CharField(source="invoice.public_id", allow_null=True)
    total_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    departments = ChargebackRowSerializer(many=True)


@extend_schema(tags=["billing"])
class ChargebackViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    """Each department's cost of a month (YYYY-MM); the departments sum to the subtotal."""

    read_action = Action.VIEW_BILLING
    serializer_class = ChargebackSerializer
    queryset = Invoice.objects.none()  # a statement is computed, not stored

    def _statement(self, month: str):
        year, number = month.split("-")
        return invoicing.chargeback_statement(
            self.organization, parse_month(int(year), int(number))
        )

    def retrieve(self, request, month=None):
        return Response(ChargebackSerializer(self._statement(month)).data)

    @extend_schema(responses={(200, "text/csv"): FILE})
    def csv(self, request, month=None):
        return chargeback_download(self._statement(month), "csv")
