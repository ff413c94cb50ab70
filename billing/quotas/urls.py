from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.quotas import api, views

urlpatterns = [
    path("organization/quotas/", views.QuotaListView.as_view(), name="quotas"),
    path("organization/quotas/new/", views.QuotaCreateView.as_view(), name="quota-new"),
    path(
        "organization/quotas/requests/",
        views.IncreaseRequestInboxView.as_view(),
        name="quota-requests",
    ),
    path(
        "organization/quotas/requests/<str:increase>/<str:verdict>/",
        views.IncreaseRequestDecideView.as_view(),
        name="quota-request-decide",
    ),
    path(
        "organization/quotas/<str:quota>/",
        views.QuotaDetailView.as_view(),
        name="quota-detail",
    ),
    path(
        "organization/quotas/<str:quota>/edit/",
        views.QuotaUpdateView.as_view(),
        name="quota-edit",
    ),
    path(
        "organization/quotas/<str:quota>/delete/",
        views.QuotaDeleteView.as_view(),
        name="quota-delete",
    ),
    path(
        "organization/quotas/<str:quota>/request/",
        views.IncreaseRequestCreateView.as_view(),
        name="quota-request",
    ),
]

router = SimpleRouter(trailing_slash=False)
router.register("quotas", api.QuotaViewSet, basename="api-quota")
router.register("quota-alerts", api.QuotaAlertViewSet, basename="api-quota-alert")
router.register("quota-requests", api.IncreaseRequestViewSet, basename="api-quota-request")
api_urlpatterns = router.urls
