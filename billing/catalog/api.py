"""REST: the public catalog (GET /api/v1/models) and organizations' model policies."""

from django.db.models import Prefetch, Q
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, viewsets

from accounts.api_fields import OrganizationRelatedField
from accounts.mixins import OrganizationAPIMixin
from accounts.models import Department
from accounts.permissions import Action
from billing.catalog import services
from billing.catalog.filters import CatalogModelFilter
from billing.catalog.models import CatalogModel, ModelPolicy, PriceVersion, Provider
from billing.catalog.selectors import catalog_models
from portal.api import SlugRelatedField


class ProviderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Provider
        fields = ["slug", "name", "region", "website"]


def _price_field(**kwargs):
    return serializers.DecimalField(max_digits=24, decimal_places=12, **kwargs)


class ListPriceSerializer(serializers.Serializer):
    """The standard prices in force now; null cache prices are charged at the input price.
    Tiers and time windows: the model's price_history (`conditions`)."""

    currency = serializers.CharField()
    input_per_million = _price_field()
    output_per_million = _price_field()
    cached_input_per_million = _price_field(allow_null=True)
    cache_write_per_million = _price_field(allow_null=True)
    per_request = _price_field()
    conditional = serializers.BooleanField(help_text="Whether tiers or time windows apply.")


class PriceVersionSerializer(serializers.ModelSerializer):
    conditions = serializers.JSONField(
        help_text=(
            'Prompt-size tiers and daily time windows, prices as decimal strings: {"tiers": '
            '{class: [[threshold, price], ...]}, "windows": [{"start": "HH:MM:SS", "end": '
            '"HH:MM:SS", "zone": "UTC", "prices": {"input", "output", "cached_input", '
            '"cache_write", "request", "tiers"}}]}. A tier applies to all tokens of its class '
            "when the prompt (input + cached + cache write tokens) exceeds its threshold."
        )
    )

    class Meta:
        model = PriceVersion
        fields = [
            "effective_from", "currency", "input_price", "output_price", "cached_input_price",
            "cache_write_price", "request_price", "conditions", "source_entry",
        ]  # fmt: skip


class CatalogModelSerializer(serializers.ModelSerializer):
    provider = ProviderSerializer()
    list_price = serializers.SerializerMethodField()

    class Meta:
        model = CatalogModel
        fields = [
            "model_id", "display_name", "provider", "description", "kind", "context_window",
            "max_output_tokens", "input_modalities", "output_modalities", "supports_tools",
            "supports_vision", "supports_reasoning", "supports_prompt_caching",
            "supports_structured_output", "status", "deprecation_date", "is_filed", "list_price",
        ]  # fmt: skip

    @extend_schema(responses=ListPriceSerializer(allow_null=True))
    def get_list_price(self, model) -> dict | None:
        if model.list_input_price is None:
            return None
        return ListPriceSerializer(
            {
                "currency": "CNY",
                "input_per_million": model.list_input_price,
                "output_per_million": model.list_output_price,
                "cached_input_per_million": model.list_cached_input_price,
                "cache_write_per_million": model.list_cache_write_price,
                "per_request": model.list_request_price,
                "conditional": bool(model.list_conditions),
            }
        ).data


class CatalogModelDetailSerializer(CatalogModelSerializer):
    aliases = serializers.SlugRelatedField(many=True, read_only=True, slug_field="alias")
    price_history = PriceVersionSerializer(many=True, read_only=True, source="prices")

    class Meta(CatalogModelSerializer.Meta):
        fields = [*CatalogModelSerializer.Meta.fields, "aliases", "price_history"]


@extend_schema(tags=["catalog"])
class CatalogModelViewSet(viewsets.ReadOnlyModelViewSet):
    """The public model catalog: no sign-in needed. Prices are CNY per million tokens."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    serializer_class = CatalogModelSerializer
    filterset_class = CatalogModelFilter
    lookup_field = "model_id"

    def get_queryset(self):
        return catalog_models()

    def get_serializer_class(self):
        return CatalogModelDetailSerializer if self.action == "retrieve" else CatalogModelSerializer

    def get_object(self):
        """By model id or any alias."""
        identifier = self.kwargs["model_id"]
        queryset = self.get_queryset().prefetch_related(
            "aliases", Prefetch("prices", PriceVersion.objects.order_by("-effective_from"))
        )
        model = queryset.filter(Q(model_id=identifier) | Q(aliases__alias=identifier)).first()
        if model is None:
            raise Http404
        return model


class ModelPolicySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    department = OrganizationRelatedField(
        queryset=Department.objects.all(), allow_null=True, required=False
    )
    models = SlugRelatedField(
        many=True, slug_field="model_id", source="catalog_models",
        queryset=CatalogModel.objects.all(), required=False,
    )  # fmt: skip
    providers = SlugRelatedField(
        many=True, slug_field="slug", queryset=Provider.objects.all(), required=False
    )

    class Meta:
        model = ModelPolicy
        fields = ["id", "department", "mode", "models", "providers", "filed_only", "updated_at"]


@extend_schema(tags=["model policies"])
class ModelPolicyViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Which models the organization, or one department, may call (owners and admins)."""

    queryset = ModelPolicy.objects.select_related("department").prefetch_related(
        "catalog_models", "providers"
    )
    serializer_class = ModelPolicySerializer
    read_action = Action.MANAGE_ORGANIZATION
    write_action = Action.MANAGE_ORGANIZATION
    lookup_field = "public_id"
    lookup_url_kwarg = "policy"
    filterset_class = None

    def perform_create(self, serializer):
        self._save(serializer, ModelPolicy(organization=self.organization))

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def _save(self, serializer, policy):
        data = dict(serializer.validated_data)
        # A partial update keeps the lists it does not send.
        catalog = data.pop("catalog_models", None)
        providers = data.pop("providers", None)
        if catalog is None:
            catalog = list(policy.catalog_models.all()) if policy.pk else []
        if providers is None:
            providers = list(policy.providers.all()) if policy.pk else []
        for name, value in data.items():
            setattr(policy, name, value)
        serializer.instance = services.save_model_policy(
            actor=self.actor, policy=policy, catalog_models=catalog, providers=providers
        )

    def perform_destroy(self, instance):
        services.delete_model_policy(actor=self.actor, policy=instance)
