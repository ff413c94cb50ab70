from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.quotas import api as api_quotas
from billing.quotas import views as views_quotas

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
]

router = SimpleRouter(trailing_slash=False)
router.register("quotas", api_quotas.QuotaViewSet, basename="api-quota")
router.register("quota-alerts", api_quotas.QuotaAlertViewSet, basename="api-quota-alert")
router.register("quota-requests", api_quotas.IncreaseRequestViewSet, basename="api-quota-request")
api_urlpatterns = router.urls
