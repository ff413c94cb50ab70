from django.urls import path

from billing.sales import api, views

urlpatterns = [
    path("billing/packs/", views.PacksView.as_view(), name="packs"),
    path("billing/packs/buy/<public_id:offer>/", views.BuyPackView.as_view(), name="pack-buy"),
    path(
        "billing/packs/purchases/<public_id:purchase>/",
        views.PurchaseView.as_view(),
        name="pack-purchase",
    ),
    path(
        "billing/packs/purchases/<public_id:purchase>/cancel/",
        views.CancelPurchaseView.as_view(),
        name="pack-purchase-cancel",
    ),
    path("billing/packs/<public_id:entitlement>/", views.PackView.as_view(), name="pack"),
    path(
        "billing/packs/<public_id:entitlement>/allocate/",
        views.AllocatePackView.as_view(),
        name="pack-allocate",
    ),
]

api_urlpatterns = [
    path("billing/offers", api.OfferViewSet.as_view({"get": "list"}), name="api-offers"),
    path(
        "billing/offers/<public_id:offer>/buy",
        api.OfferViewSet.as_view({"post": "buy"}),
        name="api-offer-buy",
    ),
    path(
        "billing/purchases/<public_id:purchase>/cancel",
        api.PurchaseViewSet.as_view({"post": "cancel"}),
        name="api-purchase-cancel",
    ),
    path(
        "billing/entitlements",
        api.EntitlementViewSet.as_view({"get": "list"}),
        name="api-entitlements",
    ),
    path(
        "billing/entitlements/<public_id:entitlement>",
        api.EntitlementViewSet.as_view({"get": "retrieve"}),
        name="api-entitlement",
    ),
    path(
        "billing/entitlements/<public_id:entitlement>/allocate",
        api.EntitlementViewSet.as_view({"post": "allocate"}),
        name="api-entitlement-allocate",
    ),
]
