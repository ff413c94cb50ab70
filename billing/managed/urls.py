from django.urls import path

from billing.managed import views

urlpatterns = [
    path("billing/operator-bill/", views.OperatorBillView.as_view(), name="operator-bill"),
    path(
        "billing/operator-bill.csv", views.OperatorBillCsvView.as_view(), name="operator-bill-csv"
    ),
]

api_urlpatterns = [
    path(
        "billing/operator-bill",
        views.OperatorBillViewSet.as_view({"get": "retrieve"}),
        name="api-operator-bill",
    ),
]
