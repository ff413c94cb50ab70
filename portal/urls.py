from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing.urls import api_urlpatterns as billing_api_urls
from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("admin/", admin.site.urls),
    path("", include("billing.urls")),
    path("api/v1/", include((billing_api_urls, "billing-api"))),
    path("", include("projects.urls")),
    path("api/v1/", include("accounts.api_me")),
    path("organization/", include("accounts.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("v1/", include("gateway.urls")),  # the OpenAI-compatible relay
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
