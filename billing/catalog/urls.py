from django.urls import path

from billing.catalog import api, views

urlpatterns = [
    path("models/", views.CatalogListView.as_view(), name="catalog"),
    path("models/compare/", views.compare, name="compare"),
    # Model ids contain slashes and dots ("qwen/qwen2.5-72b-instruct"): portal.ids' converter.
    path("models/<model_id:model_id>/", views.model_detail, name="model"),
    path("organization/model-policies/", views.PolicyListView.as_view(), name="policies"),
    path("organization/model-policies/new/", views.PolicyCreateView.as_view(), name="policy-new"),
    path(
        "organization/model-policies/<public_id:policy>/",
        views.PolicyUpdateView.as_view(),
        name="policy-edit",
    ),
    path(
        "organization/model-policies/<public_id:policy>/delete/",
        views.PolicyDeleteView.as_view(),
        name="policy-delete",
    ),
]

api_urlpatterns = [
    path("models", api.CatalogModelViewSet.as_view({"get": "list"}), name="api-models"),
    path(
        "models/<model_id:model_id>",
        api.CatalogModelViewSet.as_view({"get": "retrieve"}),
        name="api-model",
    ),
    path(
        "model-policies",
        api.ModelPolicyViewSet.as_view({"get": "list", "post": "create"}),
        name="api-policies",
    ),
    path(
        "model-policies/<public_id:policy>",
        api.ModelPolicyViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="api-policy",
    ),
]
