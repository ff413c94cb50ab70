from django.urls import path

from exports import api, views
from portal.api import Router

app_name = "exports"

urlpatterns = [
    path("exports/", views.DataExportListView.as_view(), name="list"),
    path(
        "exports/<public_id:export>/download/",
        views.DataExportDownloadView.as_view(),
        name="download",
    ),
    path("exports/<public_id:export>/delete/", views.DataExportDeleteView.as_view(), name="delete"),
]

router = Router()
router.register("exports", api.DataExportViewSet, basename="export")
api_urlpatterns = router.urls
