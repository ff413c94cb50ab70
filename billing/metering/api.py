"""Usage endpoints: the gateway's usage batches, and the organization's usage and costs
reports (shaped after OpenAI's Usage and Costs APIs)."""

from datetime import UTC, datetime
from itertools import pairwise

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from accounts.mixins import OrganizationAPIMixin
from accounts.permissions import Action
from billing.metering import selectors
from billing.metering.filters import CallFilter
from billing.metering.pagination import CallCursorPagination

# --- Organization: GET /api/v1/organization/usage and /costs --------------------------------

# bucket_width -> (default, maximum) buckets per page, as OpenAI's APIs.
PAGE_LIMITS = {"1h": (24, 168), "1d": (7, 31), "1mo": (12, 24)}


class CommaListField(serializers.ListField):
    """`?models=a,b` or `?models=a&models=b`."""

    def to_internal_value(self, data):
        items = [part for item in data for part in str(item).split(",") if part]
        return super().to_internal_value(items)


class ReportQuerySerializer(serializers.Serializer):
    start_time = serializers.IntegerField(min_value=0, help_text=_("Unix seconds, inclusive."))
    end_time = serializers.IntegerField(
        min_value=0, required=False, help_text=_("Unix seconds, exclusive; default now.")
    )
    bucket_width = serializers.ChoiceField(choices=list(selectors.WIDTHS), default="1d")
    group_by = CommaListField(
        child=serializers.ChoiceField(choices=list(selectors.GROUPS)), required=False, default=list
    )
    project_ids = CommaListField(child=serializers.CharField(), required=False, default=list)
    department_ids = CommaListField(child=serializers.CharField(), required=False, default=list)
    api_key_ids = CommaListField(child=serializers.CharField(), required=False, default=list)
    models = CommaListField(child=serializers.CharField(), required=False, default=list)
    limit = serializers.IntegerField(min_value=1, required=False)
    page = serializers.IntegerField(
        min_value=0, required=False, help_text=_("The next_page of the previous response.")
    )

    def validate(self, data):
        now = int(timezone.now().timestamp())
        end = data.get("end_time", now)
        if end <= data["start_time"]:
            raise serializers.ValidationError({"end_time": _("Must be after start_time.")})
        default, maximum = PAGE_LIMITS[data["bucket_width"]]
        limit = data.get("limit", default)
        if limit > maximum:
            raise serializers.ValidationError(
                {"limit": _("At most %(max)d for this bucket width.") % {"max": maximum}}
            )
        start = data.get("page", data["start_time"])
        if not data["start_time"] <= start < end:
            raise serializers.ValidationError({"page": _("Not a page of this query.")})
        return {
            **data,
            "limit": limit,
            "start": datetime.fromtimestamp(start, UTC),
            "end": datetime.fromtimestamp(end, UTC),
        }


def _bucket_page(membership, query, by_currency):
    """(buckets of this page with their rows, next page start or None)."""
    starts = selectors.bucket_starts(
        query["start"], query["end"], query["bucket_width"], query["limit"]
    )
    following = starts[query["limit"]] if len(starts) > query["limit"] else None
    starts = starts[: query["limit"]]
    # Whole buckets: start_time and end_time choose the buckets (those starting before end_time).
    edges = [*starts, selectors.next_bucket(starts[-1], query["bucket_width"])]
    selection = selectors.Selection(
        start=starts[0],
        end=edges[-1],
        width=query["bucket_width"],
        group_by=query["group_by"],
        filters={name: query[name] for name in selectors.FILTERS},
        by_currency=by_currency,
    )
    rows: dict[datetime, list] = {}
    for row in selectors.usage_rows(membership, selection):
        rows.setdefault(row["bucket"], []).append(row)
    buckets = [(start, end, rows.get(start, [])) for start, end in pairwise(edges)]
    return buckets, int(following.timestamp()) if following else None


def _page_body(buckets, next_start, result):
    return {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": int(start.timestamp()),
                "end_time": int(end.timestamp()),
                "results": [result(row) for row in rows],
            }
            for start, end, rows in buckets
        ],
        "has_more": next_start is not None,
        "next_page": str(next_start) if next_start is not None else None,
    }


def _groups(row):
    return {name: row["group"].get(name) for name in selectors.GROUPS}


class ReportViewSet(OrganizationAPIMixin, viewsets.ViewSet):
    """One page object per call, not a list of objects: the action is `report`, not `list`
    (which the schema would describe as an array)."""

    read_action = Action.VIEW_USAGE
    http_method_names = ["get", "head", "options"]
    by_currency = False

    def report(self, request):
        serializer = ReportQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        buckets, next_start = _bucket_page(
            self.membership, serializer.validated_data, self.by_currency
        )
        return Response(_page_body(buckets, next_start, self.result))


UsageResult = inline_serializer(
    "UsageResult",
    many=True,
    fields={
        "object": serializers.CharField(),
        "requests": serializers.IntegerField(),
        **{name: serializers.IntegerField() for name in selectors.TOKENS},
        **{name: serializers.CharField(allow_null=True) for name in selectors.GROUPS},
    },
)
CostResult = inline_serializer(
    "CostResult",
    many=True,
    fields={
        "object": serializers.CharField(),
        "amount": inline_serializer(
            "CostAmount",
            {"value": serializers.DecimalField(28, 10), "currency": serializers.CharField()},
        ),
        **{name: serializers.CharField(allow_null=True) for name in selectors.GROUPS},
    },
)


def _page_schema(name, result):
    buckets = inline_serializer(
        f"{name}Bucket",
        many=True,
        fields={
            "object": serializers.CharField(),
            "start_time": serializers.IntegerField(),
            "end_time": serializers.IntegerField(),
            "results": result,
        },
    )
    return inline_serializer(
        f"{name}Page",
        {
            "object": serializers.CharField(),
            "data": buckets,
            "has_more": serializers.BooleanField(),
            "next_page": serializers.CharField(allow_null=True),
        },
    )


@extend_schema(tags=["usage"], parameters=[ReportQuerySerializer])
class UsageReportViewSet(ReportViewSet):
    """Requests and tokens per time bucket, optionally grouped."""

    @staticmethod
    def result(row):
        return {
            "object": "organization.usage.result",
            "requests": row["requests"],
            **{name: row[name] for name in selectors.TOKENS},
            **_groups(row),
        }

    @extend_schema(
        operation_id="v1_organization_usage_list", responses=_page_schema("Usage", UsageResult)
    )
    def report(self, request):
        """Usage: requests and tokens per bucket (business time zone), current to the second."""
        return super().report(request)


@extend_schema(tags=["usage"], parameters=[ReportQuerySerializer])
class CostReportViewSet(ReportViewSet):
    """Costs per time bucket, optionally grouped; exact decimals, unrounded."""

    by_currency = True

    @staticmethod
    def result(row):
        return {
            "object": "organization.costs.result",
            "amount": {"value": str(row["cost_amount"]), "currency": row["currency"]},
            **_groups(row),
        }

    @extend_schema(
        operation_id="v1_organization_costs_list", responses=_page_schema("Costs", CostResult)
    )
    def report(self, request):
        """Costs per bucket (business time zone), current to the second."""
        return super().report(request)


# --- Organization: GET /api/v1/organization/usage/calls --------------------------------------


class CallSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    project_id = serializers.CharField(source="project.public_id")
    project_name = serializers.CharField(source="project.name")
    api_key_id = serializers.CharField(source="api_key.public_id")
    api_key_name = serializers.CharField(source="api_key.name")
    model = serializers.CharField(source="model.model_id")
    input_tokens = serializers.IntegerField(help_text=_("Uncached prompt tokens."))
    cached_input_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_amount = serializers.DecimalField(
        28, 10, help_text=_("Exact, unrounded; rounding happens once per invoice line.")
    )
    currency = serializers.CharField()
    latency_ms = serializers.IntegerField(
        allow_null=True, help_text=_("As the gateway reported it; null if it did not.")
    )
    status_code = serializers.IntegerField(
        allow_null=True, help_text=_("As the gateway reported it; null if it did not.")
    )
    estimated = serializers.BooleanField(help_text=_("Token counts estimated by the relay."))


@extend_schema(tags=["usage"])
class CallLogViewSet(OrganizationAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The call log: one accepted usage event per model call, newest first."""

    read_action = Action.VIEW_USAGE
    http_method_names = ["get", "head", "options"]
    queryset = selectors.calls()
    serializer_class = CallSerializer
    filterset_class = CallFilter
    pagination_class = CallCursorPagination

    @extend_schema(operation_id="v1_organization_usage_calls_list")
    def list(self, request, *args, **kwargs):
        """Calls newest first, in cursor pages (`next`, `previous`). Filters: `since` and
        `until` (ISO 8601), `project` and `key` (public ids), `model` (a catalog model id)."""
        return super().list(request, *args, **kwargs)
