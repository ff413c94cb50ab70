"""Billing's pages and API, one namespace ("billing"); each area lists its own routes."""

from billing.catalog import urls as catalog
from billing.invoicing import urls as invoicing
from billing.managed import urls as managed
from billing.metering import urls as metering
from billing.payments import urls as payments
from billing.quotas import urls as quotas
from billing.sales import plan_urls as sales_plans
from billing.sales import urls as sales

app_name = "billing"

AREAS = [metering, catalog, quotas, invoicing, payments, sales, sales_plans, managed]
urlpatterns = [route for area in AREAS for route in area.urlpatterns]
api_urlpatterns = [route for area in AREAS for route in area.api_urlpatterns]
