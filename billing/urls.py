from django.urls import path

from billing.catalog import api, views
from billing.invoicing import api as api_billing
from billing.invoicing import views as views_billing
from billing.metering import api as api_usage
from billing.metering import views as views_usage
from billing.quotas.urls import api_urlpatterns as quota_api_urls
from billing.quotas.urls import urlpatterns as quota_urls

app_name = "billing"

urlpatterns = [
    path("usage/", views_usage.UsageDashboardView.as_view(), name="usage"),
    path(
        "usage/projects/<str:project>/",
        views_usage.ProjectUsageView.as_view(),
        name="usage-project",
    ),
    path("usage/keys/<str:key>/", views_usage.KeyUsageView.as_view(), name="usage-key"),
    path("models/", views.CatalogListView.as_view(), name="catalog"),
    path("models/compare/", views.compare, name="compare"),
    # Model ids contain slashes and dots ("qwen/qwen2.5-72b-instruct"): a path converter.
    path("models/<path:model_id>/", views.model_detail, name="model"),
    path("organization/model-policies/", views.PolicyListView.as_view(), name="policies"),
    path("organization/model-policies/new/", views.PolicyCreateView.as_view(), name="policy-new"),
    path(
        "organization/model-policies/<str:policy>/",
        views.PolicyUpdateView.as_view(),
        name="policy-edit",
    ),
    path(
        "organization/model-policies/<str:policy>/delete/",
        views.PolicyDeleteView.as_view(),
        name="policy-delete",
    ),
    *quota_urls,
    *views_billing.urlpatterns,
]

api_urlpatterns = [
    path(
        "organization/usage",
        api_usage.UsageReportViewSet.as_view({"get": "list"}),
        name="api-usage",
    ),
    path(
        "organization/costs",
        api_usage.CostReportViewSet.as_view({"get": "list"}),
        name="api-costs",
    ),
    path("models", api.CatalogModelViewSet.as_view({"get": "list"}), name="api-models"),
    path(
        "models/<path:model_id>",
        api.CatalogModelViewSet.as_view({"get": "retrieve"}),
        name="api-model",
    ),
    path(
        "model-policies",
        api.ModelPolicyViewSet.as_view({"get": "list", "post": "create"}),
        name="api-policies",
    ),
    path(
        "model-policies/<str:policy>",
        api.ModelPolicyViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="api-policy",
    ),
    *quota_api_urls,
    *api_billing.urlpatterns,
]
