from django.urls import path

from billing.metering import api, views

urlpatterns = [
    path("usage/", views.UsageDashboardView.as_view(), name="usage"),
    path(
        "usage/projects/<public_id:project>/",
        views.ProjectUsageView.as_view(),
        name="usage-project",
    ),
    path("usage/keys/<public_id:key>/", views.KeyUsageView.as_view(), name="usage-key"),
    path("usage/calls/", views.CallLogView.as_view(), name="call-log"),
]

api_urlpatterns = [
    path(
        "organization/usage",
        api.UsageReportViewSet.as_view({"get": "report"}),
        name="api-usage",
    ),
    path(
        "organization/usage/calls",
        api.CallLogViewSet.as_view({"get": "list"}),
        name="api-usage-calls",
    ),
    path(
        "organization/costs",
        api.CostReportViewSet.as_view({"get": "report"}),
        name="api-costs",
    ),
]
