"""REST: start an online payment (a top-up or an invoice) and follow its status."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from accounts.api_fields import OrganizationRelatedField
from accounts.mixins import OrganizationAPIMixin
from accounts.permissions import Action
from billing.invoicing.models import Invoice
from billing.payments import services
from billing.payments.models import Payment


class PaymentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    invoice = OrganizationRelatedField(
        queryset=Invoice.objects.visible_to_customers(),
        required=False,
        allow_null=True,
        help_text="To pay what is owed on an issued invoice; leave out for a top-up.",
        error_messages={"does_not_exist": "No such invoice."},
    )
    provider = serializers.CharField(
        help_text='"wechat" or "alipay": one of the providers configured on this portal.'
    )
    amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        required=False,
        help_text="A top-up's amount; for an invoice, what is owed on it (set by the portal).",
    )
    code_url = serializers.CharField(
        read_only=True, help_text="Show this as a QR code for the payer to scan."
    )

    class Meta:
        model = Payment
        fields = ["id", "purpose", "invoice", "provider", "amount", "currency", "status",
                  "provider_status", "code_url", "refunded_amount", "created_at",
                  "paid_at"]  # fmt: skip
        read_only_fields = ["purpose", "currency", "status", "provider_status",
                            "refunded_amount", "created_at", "paid_at"]  # fmt: skip


@extend_schema(tags=["billing"])
class PaymentViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Online payments (WeChat Pay, Alipay) of the current organization: create one, show its
    code_url as a QR code, poll it until its status is no longer "created" or "pending"."""

    read_action = Action.VIEW_BILLING
    write_action = Action.MANAGE_BILLING
    serializer_class = PaymentSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "payment"
    queryset = Payment.objects.select_related("invoice")

    @extend_schema(responses={201: PaymentSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payment = services.start_payment(
            actor=self.actor,
            organization=self.organization,
            provider_code=data["provider"],
            amount=None if data.get("invoice") else data.get("amount"),
            invoice=data.get("invoice"),
        )
        return Response(self.get_serializer(payment).data, status=status.HTTP_201_CREATED)
