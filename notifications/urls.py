from django.urls import path

from notifications import api, views
from portal.api import Router

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path(
        "notifications/read/",
        views.NotificationReadView.as_view(),
        name="notifications-read-all",
    ),
    path(
        "notifications/<public_id:notification>/read/",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path("organization/webhooks/", views.WebhookListView.as_view(), name="webhooks"),
    path(
        "organization/webhooks/new/",
        views.WebhookCreateView.as_view(),
        name="webhook-new",
    ),
    path(
        "organization/webhooks/<public_id:webhook>/",
        views.WebhookDetailView.as_view(),
        name="webhook-detail",
    ),
    path(
        "organization/webhooks/<public_id:webhook>/delete/",
        views.WebhookDeleteView.as_view(),
        name="webhook-delete",
    ),
    path(
        "organization/webhooks/<public_id:webhook>/deliveries/<public_id:delivery>/resend/",
        views.WebhookResendView.as_view(),
        name="webhook-resend",
    ),
]

router = Router(trailing_slash=False)
router.register("notifications", api.NotificationViewSet, basename="api-notification")
router.register("webhook-endpoints", api.WebhookEndpointViewSet, basename="api-webhook-endpoint")
router.register("webhook-deliveries", api.WebhookDeliveryViewSet, basename="api-webhook-delivery")
api_urlpatterns = router.urls
