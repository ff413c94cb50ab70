"""REST: the organization's plan (period, allowance left, renewal), the plans offered to it,
subscribing, changing plan and cancelling or resuming the renewal."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.mixins import OrganizationAPIMixin
from accounts.permissions import Action
from billing.packages import plans as plan_terms
from billing.packages.models import Entitlement, OfferTerms, Subscription
from billing.sales import plans
from billing.sales.plan_forms import NEXT_PERIOD, NOW


class PlanOfferSerializer(serializers.Serializer):
    id = serializers.CharField(source="offer.public_id")
    name = serializers.CharField(source="offer.name")
    description = serializers.CharField(source="offer.description")
    period = serializers.ChoiceField(source="terms.period", choices=OfferTerms.Period.choices)
    price_amount = serializers.DecimalField(
        source="terms.price_amount", max_digits=14, decimal_places=2, help_text="Fee before VAT."
    )
    gross_amount = serializers.DecimalField(
        source="terms.gross_amount", max_digits=14, decimal_places=2, help_text="Fee with VAT."
    )
    currency = serializers.CharField(source="terms.currency")
    allowance = serializers.DecimalField(
        max_digits=28, decimal_places=10, help_text="Included each month, in `unit`."
    )
    unit = serializers.ChoiceField(
        choices=Entitlement.Unit.choices, help_text="money: CNY of usage."
    )
    overage_discount_percent = serializers.DecimalField(
        source="terms.overage_discount_percent", max_digits=5, decimal_places=2
    )
    commitment_months = serializers.IntegerField(source="terms.commitment_months")
    renewal_notice_days = serializers.IntegerField(source="terms.renewal_notice_days")


class PlanFeeSerializer(serializers.Serializer):
    invoice = serializers.CharField(source="invoice.public_id")
    invoice_number = serializers.CharField(source="invoice.number")
    kind = serializers.ChoiceField(choices=["period", "upgrade"])
    total_amount = serializers.DecimalField(
        source="invoice.total_amount", max_digits=16, decimal_places=2
    )
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()


class PlanSerializer(serializers.Serializer):
    id = serializers.CharField(source="subscription.public_id")
    offer = serializers.CharField(source="subscription.offer.public_id")
    name = serializers.CharField(source="subscription.offer.name")
    period = serializers.ChoiceField(
        source="subscription.terms.period", choices=OfferTerms.Period.choices
    )
    current_period_start = serializers.DateTimeField(source="subscription.current_period_start")
    current_period_end = serializers.DateTimeField(source="subscription.current_period_end")
    commitment_ends_at = serializers.DateTimeField(
        source="subscription.commitment_ends_at", allow_null=True
    )
    auto_renew = serializers.BooleanField(source="subscription.auto_renew")
    renews_at = serializers.DateTimeField(
        allow_null=True, help_text="null: the plan ends at current_period_end."
    )
    next_offer = serializers.CharField(
        source="subscription.next_terms.offer.public_id",
        allow_null=True,
        default=None,
        help_text="The plan taking over at the next period, if changed.",
    )
    allowance_left = serializers.DecimalField(max_digits=28, decimal_places=10)
    allowance_granted = serializers.DecimalField(
        max_digits=28, decimal_places=10, help_text="This month's allowance, in `unit`."
    )
    unit = serializers.ChoiceField(choices=Entitlement.Unit.choices)
    overage_discount_percent = serializers.DecimalField(
        source="subscription.terms.overage_discount_percent", max_digits=5, decimal_places=2
    )
    open_fees = PlanFeeSerializer(many=True, help_text="Fee invoices waiting for payment.")


class OfferChoiceSerializer(serializers.Serializer):
    offer = serializers.CharField(help_text="A plan's id, from GET /billing/plan/offers.")
    pay_from_balance = serializers.BooleanField(
        help_text="true: pay the fee invoice now from the prepaid balance (400 if it is "
        "short). false: it stays open; pay it by bank transfer or with POST /billing/payments. "
        "On the operator's consolidated bill send false: the fee is charged there and served "
        "at once (true is refused with 400)."
    )

    def validate_offer(self, value):
        offered = plans.offered_plans(self.context["organization"]).filter(public_id=value)
        offer = offered.first()
        if offer is None:
            raise serializers.ValidationError(_("No such plan is offered to your organization."))
        return offer


class ChangeSerializer(OfferChoiceSerializer):
    when = serializers.ChoiceField(
        choices=[NEXT_PERIOD, NOW],
        help_text="next_period: from the next fee period, no charge now. now: an upgrade "
        "(dearer, same period and unit): the fee difference for the time left is invoiced "
        "and, once paid, the new terms and the month's extra allowance apply.",
    )


class RenewalSerializer(serializers.Serializer):
    auto_renew = serializers.BooleanField(
        help_text="false: cancel, the plan ends at its period's end (refused within the "
        "commitment); true: renew again."
    )


@extend_schema(tags=["billing"])
class PlanViewSet(OrganizationAPIMixin, viewsets.GenericViewSet):
    """The organization's plan (subscription)."""

    read_action = Action.VIEW_BILLING
    write_action = Action.MANAGE_BILLING
    serializer_class = PlanSerializer
    queryset = Subscription.objects.none()  # nothing listed: the one plan
    pagination_class = None

    def _status(self, code=status.HTTP_200_OK):
        found = plans.plan_status(self.organization)
        if found is None:
            raise NotFound(_("Your organization has no plan."))
        return Response(PlanSerializer(found).data, status=code)

    def _valid(self, serializer_class):
        serializer = serializer_class(
            data=self.request.data, context={"organization": self.organization}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(responses=PlanSerializer)
    def retrieve(self, request):
        """The current plan: period, allowance left this month, renewal (404: none)."""
        return self._status()

    @extend_schema(responses=PlanOfferSerializer(many=True))
    def offers(self, request):
        """Plans offered to the organization, with their terms in force."""
        return Response(PlanOfferSerializer(plans.plan_offers(self.organization), many=True).data)

    @extend_schema(request=OfferChoiceSerializer, responses={201: PlanSerializer})
    def subscribe(self, request):
        """Subscribe: the first fee period (to the month's end, pro rata) is invoiced with VAT;
        the month's allowance is granted once that invoice is paid."""
        data = self._valid(OfferChoiceSerializer)
        plans.subscribe(
            actor=self.actor,
            organization=self.organization,
            offer=data["offer"],
            from_balance=data["pay_from_balance"],
        )
        return self._status(status.HTTP_201_CREATED)

    @extend_schema(request=ChangeSerializer, responses=PlanSerializer)
    def change(self, request):
        """Change plan from the next fee period, or upgrade now (prorated)."""
        data = self._valid(ChangeSerializer)
        subscription = self._current()
        if data["when"] == NOW:
            plans.upgrade_now(
                actor=self.actor,
                subscription=subscription,
                offer=data["offer"],
                from_balance=data["pay_from_balance"],
            )
        else:
            plan_terms.schedule_change(
                actor=self.actor, subscription=subscription, offer=data["offer"]
            )
        return self._status()

    @extend_schema(request=RenewalSerializer, responses=PlanSerializer)
    def renewal(self, request):
        """Cancel the renewal (the plan ends at its period's end) or resume it."""
        data = self._valid(RenewalSerializer)
        plan_terms.set_auto_renew(
            actor=self.actor, subscription=self._current(), auto_renew=data["auto_renew"]
        )
        return self._status()

    def _current(self):
        found = plans.plan_status(self.organization)
        if found is None:
            raise NotFound(_("Your organization has no plan."))
        return found.subscription
