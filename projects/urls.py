from django.urls import path
from rest_framework.routers import SimpleRouter

from projects import api, views

app_name = "projects"

router = SimpleRouter()
router.register("api/v1/projects", api.ProjectViewSet, basename="api-project")
router.register("api/v1/keys", api.ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="list"),
    path("projects/new/", views.ProjectCreateView.as_view(), name="create"),
    path("projects/<str:project>/", views.ProjectDetailView.as_view(), name="detail"),
    path("projects/<str:project>/edit/", views.ProjectUpdateView.as_view(), name="update"),
    path("projects/<str:project>/archive/", views.ProjectArchiveView.as_view(), name="archive"),
    path("projects/<str:project>/keys/new/", views.KeyCreateView.as_view(), name="key-create"),
    path(
        "projects/<str:project>/keys/<str:key>/edit/",
        views.KeyUpdateView.as_view(),
        name="key-update",
    ),
    path(
        "projects/<str:project>/keys/<str:key>/revoke/",
        views.KeyRevokeView.as_view(),
        name="key-revoke",
    ),
    path(
        "projects/<str:project>/keys/<str:key>/rotate/",
        views.KeyRotateView.as_view(),
        name="key-rotate",
    ),
    *router.urls,
]
