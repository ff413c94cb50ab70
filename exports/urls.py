from django.urls import path
from rest_framework.routers import SimpleRouter

from exports import api, views

app_name = "exports"

urlpatterns = [
    path("exports/", views.DataExportListView.as_view(), name="list"),
    path(
        "exports/<str:export>/download/",
        views.DataExportDownloadView.as_view(),
        name="download",
    ),
    path("exports/<str:export>/delete/", views.DataExportDeleteView.as_view(), name="delete"),
]

router = SimpleRouter()
router.register("exports", api.DataExportViewSet, basename="export")
api_urlpatterns = router.urls
