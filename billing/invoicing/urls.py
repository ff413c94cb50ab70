from django.urls import path, re_path

from billing.invoicing import api, views
from portal.ids import PUBLIC_ID

MONTH = r"(?P<month>[0-9]{4}-[0-9]{2})"

urlpatterns = [
    path("billing/", views.BillingView.as_view(), name="billing"),
    re_path(
        rf"^billing/invoices/(?P<invoice>{PUBLIC_ID.pattern})\.(?P<fmt>pdf|csv)$",
        views.InvoiceDownloadView.as_view(),
        name="invoice-download",
    ),
    re_path(
        r"^billing/chargeback/(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})\.(?P<fmt>pdf|csv)$",
        views.ChargebackDownloadView.as_view(),
        name="chargeback",
    ),
    re_path(
        r"^billing/chargeback/(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})/$",
        views.ChargebackView.as_view(),
        name="chargeback-page",
    ),
    re_path(
        r"^billing/statements/(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})\.(?P<fmt>pdf|csv)$",
        views.StatementDownloadView.as_view(),
        name="statement",
    ),
    path("billing/ledger/", views.LedgerView.as_view(), name="ledger"),
    path("billing/ledger.csv", views.LedgerExportView.as_view(), name="ledger-csv"),
    path("billing/fapiao/", views.FapiaoProfileView.as_view(), name="fapiao-profile"),
    path("billing/balance-alert/", views.BalanceAlertView.as_view(), name="balance-alert"),
    path(
        "billing/invoices/<public_id:invoice>/fapiao/",
        views.FapiaoRequestView.as_view(),
        name="fapiao-request",
    ),
    path(
        "billing/fapiao/<public_id:fapiao>/download",
        views.FapiaoDownloadView.as_view(),
        name="fapiao-download",
    ),
]

api_urlpatterns = [
    path("invoices", api.InvoiceViewSet.as_view({"get": "list"}), name="api-invoices"),
    path(
        "invoices/<public_id:invoice>",
        api.InvoiceViewSet.as_view({"get": "retrieve"}),
        name="api-invoice",
    ),
    path(
        "invoices/<public_id:invoice>/pdf",
        api.InvoiceViewSet.as_view({"get": "pdf"}),
        name="api-invoice-pdf",
    ),
    path(
        "invoices/<public_id:invoice>/csv",
        api.InvoiceViewSet.as_view({"get": "csv"}),
        name="api-invoice-csv",
    ),
    path("billing/balance", api.BalanceViewSet.as_view({"get": "retrieve"}), name="api-balance"),
    path("billing/ledger", api.LedgerViewSet.as_view({"get": "list"}), name="api-ledger"),
    re_path(
        rf"^billing/statements/{MONTH}$",
        api.StatementViewSet.as_view({"get": "retrieve"}),
        name="api-statement",
    ),
    re_path(
        rf"^billing/statements/{MONTH}/csv$",
        api.StatementViewSet.as_view({"get": "csv"}),
        name="api-statement-csv",
    ),
    re_path(
        rf"^billing/statements/{MONTH}/pdf$",
        api.StatementViewSet.as_view({"get": "pdf"}),
        name="api-statement-pdf",
    ),
    path(
        "billing/fapiao-profile",
        api.FapiaoProfileViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update"}
        ),
        name="api-fapiao-profile",
    ),
    path("fapiao", api.FapiaoDocumentViewSet.as_view({"get": "list"}), name="api-fapiao-list"),
    path(
        "fapiao/<public_id:fapiao>",
        api.FapiaoDocumentViewSet.as_view({"get": "retrieve"}),
        name="api-fapiao",
    ),
    path(
        "fapiao/<public_id:fapiao>/file",
        api.FapiaoDocumentViewSet.as_view({"get": "file"}),
        name="api-fapiao-file",
    ),
    path(
        "fapiao-requests",
        api.FapiaoRequestViewSet.as_view({"get": "list", "post": "create"}),
        name="api-fapiao-requests",
    ),
    re_path(
        rf"^billing/chargeback/{MONTH}$",
        api.ChargebackViewSet.as_view({"get": "retrieve"}),
        name="api-chargeback",
    ),
    re_path(
        rf"^billing/chargeback/{MONTH}/csv$",
        api.ChargebackViewSet.as_view({"get": "csv"}),
        name="api-chargeback-csv",
    ),
]
