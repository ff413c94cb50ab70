from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from hijack.views import ReleaseUserView

from accounts import languages
from accounts.hijack import AcquireView
from accounts.views import ProfileView
from billing.overview import views as overview
from billing.urls import api_urlpatterns as billing_api_urls
from exports.urls import api_urlpatterns as export_api_urls
from notifications.urls import api_urlpatterns as notification_api_urls
from portal import metrics, views

urlpatterns = [
    path("", overview.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("i18n/setlang/", languages.set_language, name="set_language"),
    path("accounts/profile/", ProfileView.as_view(), name="profile"),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("admin/", admin.site.urls),
    path(
        "support/",
        include(
            (
                [
                    path("view-as/", AcquireView.as_view(), name="acquire"),
                    path("release/", ReleaseUserView.as_view(), name="release"),
                ],
                "hijack",
            )
        ),
    ),
    path("", include("billing.urls")),
    path("api/v1/", include((billing_api_urls, "billing-api"))),
    path("", include("notifications.urls")),
    path("api/v1/", include((notification_api_urls, "notifications-api"))),
    path("api/v1/gateway/", include("relay.urls")),
    path("", include("projects.urls")),
    path("api/v1/", include("accounts.api_me")),
    path("organization/", include("accounts.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("organization/", include("exports.urls")),
    path("api/v1/", include(export_api_urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file of its own: nothing inline (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
