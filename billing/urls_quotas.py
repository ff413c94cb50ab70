from django.urls import path
from rest_framework.routers import SimpleRouter

from billing import api_quotas, views_notifications, views_quotas

urlpatterns = [
    path("organization/quotas/", views_quotas.QuotaListView.as_view(), name="quotas"),
    path("organization/quotas/new/", views_quotas.QuotaCreateView.as_view(), name="quota-new"),
    path(
        "organization/quotas/requests/",
        views_quotas.IncreaseRequestInboxView.as_view(),
        name="quota-requests",
    ),
    path(
        "organization/quotas/requests/<str:increase>/<str:verdict>/",
        views_quotas.IncreaseRequestDecideView.as_view(),
        name="quota-request-decide",
    ),
    path(
        "organization/quotas/<str:quota>/",
        views_quotas.QuotaDetailView.as_view(),
        name="quota-detail",
    ),
    path(
        "organization/quotas/<str:quota>/edit/",
        views_quotas.QuotaUpdateView.as_view(),
        name="quota-edit",
    ),
    path(
        "organization/quotas/<str:quota>/delete/",
        views_quotas.QuotaDeleteView.as_view(),
        name="quota-delete",
    ),
    path(
        "organization/quotas/<str:quota>/request/",
        views_quotas.IncreaseRequestCreateView.as_view(),
        name="quota-request",
    ),
    path(
        "notifications/", views_notifications.NotificationListView.as_view(), name="notifications"
    ),
    path(
        "notifications/read/",
        views_notifications.NotificationReadView.as_view(),
        name="notifications-read-all",
    ),
    path(
        "notifications/<str:notification>/read/",
        views_notifications.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path("organization/webhooks/", views_notifications.WebhookListView.as_view(), name="webhooks"),
    path(
        "organization/webhooks/new/",
        views_notifications.WebhookCreateView.as_view(),
        name="webhook-new",
    ),
    path(
        "organization/webhooks/<str:webhook>/",
        views_notifications.WebhookDetailView.as_view(),
        name="webhook-detail",
    ),
    path(
        "organization/webhooks/<str:webhook>/delete/",
        views_notifications.WebhookDeleteView.as_view(),
        name="webhook-delete",
    ),
    path(
        "organization/webhooks/<str:webhook>/deliveries/<str:delivery>/resend/",
        views_notifications.WebhookResendView.as_view(),
        name="webhook-resend",
    ),
]

router = SimpleRouter(trailing_slash=False)
router.register("quotas", api_quotas.QuotaViewSet, basename="api-quota")
router.register("quota-alerts", api_quotas.QuotaAlertViewSet, basename="api-quota-alert")
router.register("quota-requests", api_quotas.IncreaseRequestViewSet, basename="api-quota-request")
router.register("notifications", api_quotas.NotificationViewSet, basename="api-notification")
router.register(
    "webhook-endpoints", api_quotas.WebhookEndpointViewSet, basename="api-webhook-endpoint"
)
router.register(
    "webhook-deliveries", api_quotas.WebhookDeliveryViewSet, basename="api-webhook-delivery"
)
api_urlpatterns = router.urls
