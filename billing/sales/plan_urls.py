from django.urls import path

from billing.sales import plan_api, plan_views

urlpatterns = [
    path("billing/plan/", plan_views.PlanView.as_view(), name="plan"),
    path(
        "billing/plan/subscribe/<public_id:offer>/",
        plan_views.SubscribePlanView.as_view(),
        name="plan-subscribe",
    ),
    path(
        "billing/plan/change/<public_id:offer>/",
        plan_views.ChangePlanView.as_view(),
        name="plan-change",
    ),
    path("billing/plan/renewal/", plan_views.RenewalView.as_view(), name="plan-renewal"),
]

api_urlpatterns = [
    path("billing/plan", plan_api.PlanViewSet.as_view({"get": "retrieve"}), name="api-plan"),
    path(
        "billing/plan/offers",
        plan_api.PlanViewSet.as_view({"get": "offers"}),
        name="api-plan-offers",
    ),
    path(
        "billing/plan/subscribe",
        plan_api.PlanViewSet.as_view({"post": "subscribe"}),
        name="api-plan-subscribe",
    ),
    path(
        "billing/plan/change",
        plan_api.PlanViewSet.as_view({"post": "change"}),
        name="api-plan-change",
    ),
    path(
        "billing/plan/renewal",
        plan_api.PlanViewSet.as_view({"post": "renewal"}),
        name="api-plan-renewal",
    ),
]
