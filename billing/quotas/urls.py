from django.urls import path

from billing.quotas import api, views
from portal.api import Router

urlpatterns = [
    path("organization/quotas/", views.QuotaListView.as_view(), name="quotas"),
    path("organization/quotas/new/", views.QuotaCreateView.as_view(), name="quota-new"),
    path(
        "organization/quotas/requests/",
        views.IncreaseRequestInboxView.as_view(),
        name="quota-requests",
    ),
    path(
        "organization/quotas/requests/<public_id:increase>/<str:verdict>/",
        views.IncreaseRequestDecideView.as_view(),
        name="quota-request-decide",
    ),
    path(
        "organization/quotas/<public_id:quota>/",
        views.QuotaDetailView.as_view(),
        name="quota-detail",
    ),
    path(
        "organization/quotas/<public_id:quota>/edit/",
        views.QuotaUpdateView.as_view(),
        name="quota-edit",
    ),
    path(
        "organization/quotas/<public_id:quota>/delete/",
        views.QuotaDeleteView.as_view(),
        name="quota-delete",
    ),
    path(
        "organization/quotas/<public_id:quota>/request/",
        views.IncreaseRequestCreateView.as_view(),
        name="quota-request",
    ),
]

router = Router(trailing_slash=False)
router.register("quotas", api.QuotaViewSet, basename="api-quota")
router.register("quota-alerts", api.QuotaAlertViewSet, basename="api-quota-alert")
router.register("quota-requests", api.IncreaseRequestViewSet, basename="api-quota-request")
api_urlpatterns = router.urls
