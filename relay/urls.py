from django.urls import path

from relay import contract

app_name = "gateway"

urlpatterns = [
    path("authorize", contract.AuthorizeView.as_view(), name="authorize"),
    path("usage", contract.UsageView.as_view(), name="usage"),
    path("ping", contract.PingView.as_view(), name="ping"),
]
