"""REST API: quotas with their periods and alerts, and quota increase requests."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_fields import MemberEmailField, OrganizationRelatedField
from accounts.mixins import OrganizationAPIMixin
from accounts.models import Department
from accounts.permissions import Action
from billing.quotas import services as quotas
from billing.quotas.models import (
    Quota,
    QuotaAlert,
    QuotaIncreaseRequest,
    QuotaPeriod,
    parse_thresholds,
)
from projects.models import ApiKey, Project


class PeriodSerializer(serializers.ModelSerializer):
    consumed = serializers.SerializerMethodField()
    percent = serializers.FloatField(read_only=True)

    class Meta:
        model = QuotaPeriod
        fields = ["period_start", "period_end", "consumed", "percent"]

    def get_consumed(self, period) -> str:
        return str(period.consumed)


class QuotaSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    department = OrganizationRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )
    project = OrganizationRelatedField(
        queryset=Project.objects.all(), required=False, allow_null=True
    )
    api_key = OrganizationRelatedField(
        queryset=ApiKey.objects.all(), required=False, allow_null=True
    )
    thresholds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=1000), required=False
    )
    # Members only: an address without an account and a non-member's read the same.
    watchers = MemberEmailField(
        many=True, required=False,
        help_text=_("Email addresses of members who also receive the alerts."),
    )  # fmt: skip
    current_period = serializers.SerializerMethodField()
    runs_out_on = serializers.SerializerMethodField()

    class Meta:
        model = Quota
        fields = [
            "id", "scope", "department", "project", "api_key", "metric", "period",
            "start_date", "end_date", "limit", "thresholds", "on_exceed", "watchers",
            "current_period", "runs_out_on", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def validate_thresholds(self, value):
        return parse_thresholds(value)  # DRF turns its ValidationError into the field's errors

    def _current(self, quota):
        running = self.context.get("running")
        if running is None:
            running = quotas.current_periods([quota])
        return running.get(quota.pk)

    @extend_schema_field(PeriodSerializer(allow_null=True))
    def get_current_period(self, quota):
        period = self._current(quota)
        return PeriodSerializer(period).data if period else None

    def get_runs_out_on(self, quota) -> str | None:
        day = quotas.forecast(quota, self._current(quota))
        return day.isoformat() if day else None


class QuotaAlertSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    quota = serializers.CharField(source="quota_period.quota.public_id")
    period_start = serializers.DateTimeField(source="quota_period.period_start")

    class Meta:
        model = QuotaAlert
        fields = ["id", "quota", "period_start", "threshold", "consumed", "created_at"]


class QuotaViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Quotas the member may see; owners/admins edit all, managers their projects' and keys'."""

    serializer_class = QuotaSerializer
    queryset = Quota.objects.none()  # for the schema; get_queryset() scopes
    lookup_field = "public_id"
    lookup_url_kwarg = "quota"
    read_action = Action.VIEW_USAGE
    write_action = Action.MANAGE_QUOTAS
    filterset_fields = ["scope", "metric", "on_exceed"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        # Found among the visible ones (else 404); the service decides who may write (403).
        return (
            Quota.objects.for_member(self.membership, Action.VIEW_USAGE)
            .select_related("department", "project", "api_key__project", "organization")
            .prefetch_related("watchers")
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "running": quotas.current_periods(page)}
        return self.get_paginated_response(QuotaSerializer(page, many=True, context=context).data)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        scope = data.pop("scope")
        targets = {name: data.pop(name, None) for name in ("department", "project", "api_key")}
        serializer.instance = quotas.create_quota(
            actor=self.actor, scope=scope, target=targets.get(scope), **data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        for fixed in ("scope", "department", "project", "api_key"):
            if fixed in data:
                raise serializers.ValidationError({fixed: [_("A quota's scope cannot change.")]})
        serializer.instance = quotas.update_quota(
            actor=self.actor, quota=serializer.instance, **data
        )

    def perform_destroy(self, instance):
        quotas.delete_quota(actor=self.actor, quota=instance)

    @extend_schema(responses=PeriodSerializer(many=True))
    @action(detail=True, methods=["get"])
    def periods(self, request, quota=None):
        """Consumption per period, newest first (history is kept)."""
        periods = self.get_object().periods.select_related("quota")
        page = self.paginate_queryset(periods)
        return self.get_paginated_response(PeriodSerializer(page, many=True).data)


class QuotaAlertViewSet(OrganizationAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Alerts (thresholds reached), newest first."""

    serializer_class = QuotaAlertSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "alert"
    read_action = Action.VIEW_USAGE
    queryset = QuotaAlert.objects.select_related("quota_period__quota")
    filterset_fields = {"quota_period__quota__public_id": ["exact"]}


class IncreaseRequestSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    quota = OrganizationRelatedField(queryset=Quota.objects.all())
    requested_by = serializers.CharField(source="requested_by.email", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = QuotaIncreaseRequest
        fields = [
            "id", "quota", "new_limit", "reason", "status", "requested_by", "decided_by",
            "decision_comment", "decided_at", "created_at",
        ]  # fmt: skip
        read_only_fields = ["status", "decision_comment", "decided_at", "created_at"]


DecisionSerializer = inline_serializer(
    "QuotaRequestDecision", {"comment": serializers.CharField(required=False, allow_blank=True)}
)


class IncreaseRequestViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Quota increase requests: developers and managers ask, owners and admins decide."""

    serializer_class = IncreaseRequestSerializer
    queryset = QuotaIncreaseRequest.objects.none()  # for the schema; get_queryset() scopes
    lookup_field = "public_id"
    lookup_url_kwarg = "increase"
    read_action = Action.VIEW_USAGE
    write_action = Action.REQUEST_QUOTA
    actions = {
        # Asking depends on the quota the body names: the service decides (403), once it is read.
        "create": Action.VIEW_USAGE,
        "approve": Action.MANAGE_QUOTAS,
        "reject": Action.MANAGE_QUOTAS,
    }
    filterset_fields = ["status"]

    def get_queryset(self):
        return QuotaIncreaseRequest.objects.for_member(
            self.membership, Action.VIEW_USAGE
        ).select_related("quota", "requested_by", "decided_by")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = quotas.request_increase(
            actor=self.actor,
            quota=data["quota"], new_limit=data["new_limit"], reason=data["reason"],
        )  # fmt: skip

    def _decide(self, request, approve: bool):
        increase = self.get_object()
        decided = quotas.decide_increase(
            actor=self.actor,
            increase=increase,
            approve=approve,
            comment=str(request.data.get("comment", ""))[:1000],
        )
        return Response(self.get_serializer(decided).data)

    @extend_schema(request=DecisionSerializer, responses=IncreaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, increase=None):
        """Approve: the new limit applies at once; the requester is notified."""
        return self._decide(request, approve=True)

    @extend_schema(request=DecisionSerializer, responses=IncreaseRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, increase=None):
        """Reject with a comment; the requester is notified."""
        return self._decide(request, approve=False)
