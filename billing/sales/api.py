"""REST: the token packs offered to the organization, buying one, cancelling an unpaid
purchase, the packs it holds and allocating one to a department."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api_fields import OrganizationRelatedField
from accounts.mixins import OrganizationAPIMixin
from accounts.models import Department
from accounts.permissions import Action
from billing.packages import services as packages
from billing.packages.models import Entitlement, Offer
from billing.sales import selectors, services
from billing.sales.models import Purchase


class OfferSerializer(serializers.Serializer):
    id = serializers.CharField(source="offer.public_id")
    name = serializers.CharField(source="offer.name")
    description = serializers.CharField(source="offer.description")
    tokens = serializers.IntegerField(source="terms.token_amount")
    scope = serializers.ChoiceField(
        source="terms.scope", choices=["all", "models", "region"],
        help_text='"all" models, the listed "models", or the models of one provider "region".',
    )  # fmt: skip
    scope_region = serializers.CharField(
        source="terms.scope_region", help_text='"cn": domestic models; empty unless region.'
    )
    models = serializers.ListField(
        source="covered", child=serializers.CharField(), help_text="Listed models (scope models)."
    )
    counting = serializers.ChoiceField(source="terms.counting", choices=["one_to_one", "weighted"])
    weights = serializers.DictField(
        source="terms.weights",
        help_text="Weighted counting: per model, what one token of each class counts as. A "
        "covered model not listed (added to the catalog later) counts, when used, at its list "
        "price per million over reference_price_per_million.",
    )
    reference_price_per_million = serializers.DecimalField(
        source="terms.reference_price_per_million",
        max_digits=14,
        decimal_places=6,
        allow_null=True,
        help_text="Weighted counting: the list price per million tokens that counts as 1.",
    )
    validity_days = serializers.IntegerField(source="terms.validity_days", allow_null=True)
    valid_until = serializers.DateField(source="terms.valid_until", allow_null=True)
    price_amount = serializers.DecimalField(
        source="terms.price_amount", max_digits=14, decimal_places=2, help_text="Before VAT."
    )
    vat_rate = serializers.DecimalField(source="terms.vat_rate", max_digits=5, decimal_places=4)
    gross_amount = serializers.DecimalField(
        source="terms.gross_amount", max_digits=14, decimal_places=2, help_text="With VAT."
    )
    currency = serializers.CharField(source="terms.currency")
    purchases_left = serializers.IntegerField(
        source="left", allow_null=True, help_text="null: no purchase limit."
    )


class BuySerializer(serializers.Serializer):
    pay_from_balance = serializers.BooleanField(
        help_text="true: pay now from the prepaid balance (400 if it is short). false: the "
        "purchase invoice stays open; pay it by bank transfer or with POST /billing/payments "
        "(invoice). An organization on the operator's consolidated bill sends false: the pack "
        "is charged on that bill and granted at once (true is refused with 400)."
    )


class PurchaseSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    billed_on = serializers.SerializerMethodField(
        help_text="invoice: our purchase invoice; operator_bill: a charge on the operator's "
        "consolidated bill (no invoice: the operator bills it)."
    )
    invoice = serializers.CharField(source="invoice.public_id", allow_null=True, default=None)
    invoice_number = serializers.CharField(source="invoice.number", allow_null=True, default=None)
    invoice_status = serializers.CharField(source="invoice.status", allow_null=True, default=None)
    operator_charge = serializers.CharField(
        source="operator_charge.public_id", allow_null=True, default=None,
        help_text="The charge on the operator's bill, when billed there.",
    )  # fmt: skip
    total_amount = serializers.DecimalField(
        source="bill.total_amount", max_digits=16, decimal_places=2, help_text="With VAT."
    )
    entitlement = serializers.CharField(
        source="entitlement.public_id", allow_null=True, default=None,
        help_text="The pack, once the invoice is paid (at once on the operator's bill).",
    )  # fmt: skip

    @extend_schema_field(serializers.ChoiceField(choices=["invoice", "operator_bill"]))
    def get_billed_on(self, purchase) -> str:
        return "invoice" if purchase.invoice_id else "operator_bill"


class EntitlementSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    offer = serializers.CharField(source="offer.public_id", read_only=True)
    name = serializers.CharField(source="offer.name", read_only=True)
    remaining = serializers.DecimalField(max_digits=28, decimal_places=10, read_only=True)
    department = serializers.CharField(
        source="department.public_id", allow_null=True, default=None, read_only=True,
        help_text="Allocated to this department subtree; null: the whole organization.",
    )  # fmt: skip

    class Meta:
        model = Entitlement
        fields = ["id", "offer", "name", "source", "unit", "granted", "consumed", "remaining",
                  "starts_at", "expires_at", "status", "department", "reference"]  # fmt: skip
        read_only_fields = fields


class AllocateSerializer(serializers.Serializer):
    department = OrganizationRelatedField(
        queryset=Department.objects.all(),
        allow_null=True,
        help_text="A department's id; null: the whole organization.",
        error_messages={"does_not_exist": "No such department."},
    )


@extend_schema(tags=["billing"])
class OfferViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    """Token packs offered to the current organization, with their terms in force."""

    read_action = Action.VIEW_BILLING
    write_action = Action.MANAGE_BILLING
    serializer_class = OfferSerializer
    pagination_class = None

    def get_queryset(self):
        # Offers are not rows of the organization (selectors.offers_for picks them); this
        # only names the model for the schema's path parameter.
        return Offer.objects.none()

    @extend_schema(responses=OfferSerializer(many=True))
    def list(self, request):
        rows = selectors.offers_for(self.organization)
        return Response(OfferSerializer(rows, many=True).data)

    @extend_schema(
        request=BuySerializer,
        responses={201: PurchaseSerializer},
    )
    def buy(self, request, offer):
        """Buy a pack: a purchase invoice with VAT is issued at once (on the operator's
        consolidated bill: a charge there, and the pack at once)."""
        found = {row.offer.public_id: row for row in selectors.offers_for(self.organization)}
        if offer not in found:
            raise NotFound
        serializer = BuySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = services.buy_pack(
            actor=self.actor,
            organization=self.organization,
            offer=found[offer].offer,
            from_balance=serializer.validated_data["pay_from_balance"],
        )
        return Response(PurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["billing"])
class PurchaseViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    """The organization's pack purchases."""

    read_action = Action.VIEW_BILLING
    write_action = Action.MANAGE_BILLING
    serializer_class = PurchaseSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "purchase"
    queryset = Purchase.objects.select_related("invoice", "operator_charge", "entitlement")

    @extend_schema(request=None, responses=PurchaseSerializer)
    def cancel(self, request, purchase):
        """Cancel an unpaid purchase: its invoice is voided ("Cancelled by the customer"), it
        stops counting against the purchase limit, and a payment arriving later delivers
        nothing (it stays on the balance). 400 once paid or delivered, or on the operator's
        consolidated bill."""
        cancelled = services.cancel_purchase(actor=self.actor, purchase=self.get_object())
        return Response(PurchaseSerializer(cancelled).data)


@extend_schema(tags=["billing"])
class EntitlementViewSet(
    OrganizationAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Token packs and plan allowances the organization holds."""

    read_action = Action.VIEW_BILLING
    write_action = Action.MANAGE_BILLING
    serializer_class = EntitlementSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "entitlement"
    queryset = Entitlement.objects.select_related("offer", "department").order_by("-id")

    @extend_schema(request=AllocateSerializer, responses=EntitlementSerializer)
    def allocate(self, request, entitlement):
        """Allocate to a department subtree (its keys draw it first), or to everyone (null)."""
        held = self.get_object()
        serializer = AllocateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        held = packages.allocate(
            actor=self.actor, entitlement=held, department=serializer.validated_data["department"]
        )
        return Response(EntitlementSerializer(held).data)
