"""REST API: the user's notifications, webhook endpoints (the secret is in the creation
response only) and their deliveries."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.mixins import OrganizationAPIMixin
from accounts.permissions import Action
from notifications import services as notifications
from notifications import webhooks
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint


class NotificationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    # Rendered in the reader's language when read (Notification.subject / .message).
    subject = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "event_type", "subject", "message", "data", "link", "read_at", "created_at"]


class NotificationViewSet(OrganizationAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The requesting user's notifications in the current organization."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()  # for the schema; get_queryset() scopes
    lookup_field = "public_id"
    lookup_url_kwarg = "notification"
    read_action = write_action = Action.VIEW_ORGANIZATION
    filterset_fields = {"read_at": ["isnull"]}

    def get_queryset(self):
        return Notification.objects.for_org(self.organization).filter(user=self.request.user)

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, notification=None):
        notification = self.get_object()
        notifications.mark_read(
            user=request.user, organization=self.organization, public_ids=[notification.public_id]
        )
        notification.refresh_from_db()
        return Response(self.get_serializer(notification).data)

    @extend_schema(
        request=None,
        responses=inline_serializer("MarkedRead", {"marked": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = notifications.mark_read(user=request.user, organization=self.organization)
        return Response({"marked": marked})


class WebhookEndpointSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=webhooks.EVENT_TYPES), allow_empty=False
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "is_active", "created_at"]
        read_only_fields = ["is_active", "created_at"]


class NewWebhookEndpointSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text=_("The signing secret, shown in this response only.")
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Webhook endpoints (owners and admins)."""

    serializer_class = WebhookEndpointSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "webhook"
    read_action = write_action = Action.MANAGE_ORGANIZATION
    queryset = WebhookEndpoint.objects.all()

    @extend_schema(responses={201: NewWebhookEndpointSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = webhooks.create_endpoint(actor=self.actor, **serializer.validated_data)
        endpoint.secret = secret
        return Response(NewWebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        webhooks.delete_endpoint(actor=self.actor, endpoint=instance)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    endpoint = serializers.CharField(source="endpoint.public_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "endpoint", "event_id", "event_type", "status", "attempts", "response_code",
            "latency_ms", "last_error", "next_attempt_at", "last_attempt_at", "created_at",
        ]  # fmt: skip


class WebhookDeliveryViewSet(OrganizationAPIMixin, viewsets.ReadOnlyModelViewSet):
    """The delivery log (owners and admins); resend sends an event again with the same id."""

    serializer_class = WebhookDeliverySerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "delivery"
    read_action = write_action = Action.MANAGE_ORGANIZATION
    queryset = WebhookDelivery.objects.select_related("endpoint")
    filterset_fields = {"endpoint__public_id": ["exact"], "status": ["exact"]}

    @extend_schema(request=None, responses=WebhookDeliverySerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, delivery=None):
        delivery = webhooks.resend(actor=self.actor, delivery=self.get_object())
        return Response(self.get_serializer(delivery).data)
