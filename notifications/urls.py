from django.urls import path
from rest_framework.routers import SimpleRouter

from notifications import api, views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path(
        "notifications/read/",
        views.NotificationReadView.as_view(),
        name="notifications-read-all",
    ),
    path(
        "notifications/<str:notification>/read/",
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
        "organization/webhooks/<str:webhook>/",
        views.WebhookDetailView.as_view(),
        name="webhook-detail",
    ),
    path(
        "organization/webhooks/<str:webhook>/delete/",
        views.WebhookDeleteView.as_view(),
        name="webhook-delete",
    ),
    path(
        "organization/webhooks/<str:webhook>/deliveries/<str:delivery>/resend/",
        views.WebhookResendView.as_view(),
        name="webhook-resend",
    ),
]

router = SimpleRouter(trailing_slash=False)
router.register("notifications", api.NotificationViewSet, basename="api-notification")
router.register("webhook-endpoints", api.WebhookEndpointViewSet, basename="api-webhook-endpoint")
router.register("webhook-deliveries", api.WebhookDeliveryViewSet, basename="api-webhook-delivery")
api_urlpatterns = router.urls
