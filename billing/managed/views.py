"""The consolidated bill for its customer: the page, its CSV and the API (billing.managed
.operator_bill). 404 for an organization not on the operator's bill."""

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import generic
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.mixins import OrganizationAPIMixin, OrganizationMixin
from accounts.permissions import Action
from billing.invoicing.consolidated_models import OperatorCharge
from billing.managed.operator_bill import OperatorBill, operator_bill
from portal import csv

CSV_COLUMNS = ("month", "settled", "currency", "usage", "packs", "plan_fees", "adjustments",
               "amount_before_vat", "vat", "total")  # fmt: skip


class OperatorBillMixin:
    action = read_action = Action.VIEW_BILLING

    def bill(self) -> OperatorBill:
        found = operator_bill(self.organization, now=timezone.now())
        if found is None:
            raise Http404(_("Your organization is not on the operator's consolidated bill."))
        return found


class OperatorBillView(OperatorBillMixin, OrganizationMixin, generic.TemplateView):
    template_name = "billing/operator_bill.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(bill=self.bill(), **kwargs)


class OperatorBillCsvView(OperatorBillMixin, OrganizationMixin, generic.View):
    def get(self, request):
        currency = self.organization.currency
        rows = (
            [f"{m.month:%Y-%m}", "yes" if m.settled else "no", currency, m.row.usage_amount,
             m.row.packs_amount, m.row.plan_fees_amount, m.row.adjustments_amount,
             m.row.subtotal_amount, m.row.tax_amount, m.row.total_amount]
            for m in self.bill().months
        )  # fmt: skip
        return csv.response(CSV_COLUMNS, rows, "operator-bill.csv")


class BillMonthSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The month's first day.")
    settled = serializers.BooleanField(
        help_text="In a settlement file sent to the operator; false: this month so far."
    )
    usage = serializers.DecimalField(source="row.usage_amount", max_digits=16, decimal_places=2)
    packs = serializers.DecimalField(source="row.packs_amount", max_digits=16, decimal_places=2)
    plan_fees = serializers.DecimalField(
        source="row.plan_fees_amount", max_digits=16, decimal_places=2
    )
    adjustments = serializers.DecimalField(
        source="row.adjustments_amount", max_digits=16, decimal_places=2,
        help_text="Late usage of earlier months.",
    )  # fmt: skip
    amount_before_vat = serializers.DecimalField(
        source="row.subtotal_amount", max_digits=16, decimal_places=2
    )
    vat = serializers.DecimalField(source="row.tax_amount", max_digits=16, decimal_places=2)
    total = serializers.DecimalField(source="row.total_amount", max_digits=16, decimal_places=2)


class OperatorChargeSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")

    class Meta:
        model = OperatorCharge
        fields = ["id", "category", "description", "currency", "subtotal_amount", "tax_rate",
                  "tax_amount", "total_amount", "charged_at"]  # fmt: skip


class OperatorBillSerializer(serializers.Serializer):
    operator_account_number = serializers.CharField(source="setting.operator_account_number")
    months = BillMonthSerializer(many=True, help_text="Newest first.")
    charges = OperatorChargeSerializer(
        many=True, help_text="The latest packs and plan fees charged on the bill."
    )


@extend_schema(tags=["billing"])
class OperatorBillViewSet(OperatorBillMixin, OrganizationAPIMixin, viewsets.GenericViewSet):
    """The operator's consolidated bill (统一账单): month by month what the operator bills the
    organization (404 when it is not on that bill)."""

    serializer_class = OperatorBillSerializer
    queryset = OperatorCharge.objects.none()  # computed, not a list of rows
    pagination_class = None

    def retrieve(self, request):
        try:
            bill = self.bill()
        except Http404 as missing:
            raise NotFound(str(missing)) from None
        return Response(OperatorBillSerializer(bill).data)
