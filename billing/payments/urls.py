from django.urls import path, re_path

from billing.payments import api, views

urlpatterns = [
    path("billing/payments/new/", views.PaymentStartView.as_view(), name="payment-start"),
    path("billing/payments/<public_id:payment>/", views.PaymentView.as_view(), name="payment"),
    path(
        "billing/payments/<public_id:payment>/status/",
        views.PaymentStatusView.as_view(),
        name="payment-status",
    ),
    re_path(
        r"^billing/payments/notify/(?P<provider>wechat|alipay)/$",
        views.NotificationView.as_view(),
        name="payment-notify",
    ),
]

api_urlpatterns = [
    path(
        "billing/payments",
        api.PaymentViewSet.as_view({"get": "list", "post": "create"}),
        name="api-payments",
    ),
    path(
        "billing/payments/<public_id:payment>",
        api.PaymentViewSet.as_view({"get": "retrieve"}),
        name="api-payment",
    ),
]
