from django.urls import path

from portal.api import Router
from projects import api, views

app_name = "projects"

router = Router()
router.register("api/v1/projects", api.ProjectViewSet, basename="api-project")
router.register("api/v1/keys", api.ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="list"),
    path("keys/", views.KeyListView.as_view(), name="keys"),
    path("projects/new/", views.ProjectCreateView.as_view(), name="create"),
    path("projects/<public_id:project>/", views.ProjectDetailView.as_view(), name="detail"),
    path("projects/<public_id:project>/edit/", views.ProjectUpdateView.as_view(), name="update"),
    path(
        "projects/<public_id:project>/archive/", views.ProjectArchiveView.as_view(), name="archive"
    ),
    path(
        "projects/<public_id:project>/keys/new/", views.KeyCreateView.as_view(), name="key-create"
    ),
    path(
        "projects/<public_id:project>/keys/<public_id:key>/",
        views.KeyDetailView.as_view(),
        name="key-detail",
    ),
    path(
        "projects/<public_id:project>/keys/<public_id:key>/edit/",
        views.KeyUpdateView.as_view(),
        name="key-update",
    ),
    path(
        "projects/<public_id:project>/keys/<public_id:key>/revoke/",
        views.KeyRevokeView.as_view(),
        name="key-revoke",
    ),
    path(
        "projects/<public_id:project>/keys/<public_id:key>/rotate/",
        views.KeyRotateView.as_view(),
        name="key-rotate",
    ),
    *router.urls,
]
