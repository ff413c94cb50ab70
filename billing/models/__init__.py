from billing.models.catalog import (
    PRICE_FIELDS,
    CatalogModel,
    ModelAlias,
    PriceVersion,
    Provider,
    StartedPriceError,
)
from billing.models.contracts import ContractDiscount
from billing.models.invoices import (
    BillingAccount,
    FapiaoProfile,
    FapiaoRequest,
    Invoice,
    InvoiceLine,
    InvoiceNumberCounter,
)
from billing.models.ledger import LedgerBalance, LedgerEntry
from billing.models.metering import RollupWatermark, UsageEvent, UsageRollup
from billing.models.notifications import Notification, WebhookDelivery, WebhookEndpoint
from billing.models.policy import ModelPolicy
from billing.models.quotas import Quota, QuotaAlert, QuotaIncreaseRequest, QuotaPeriod

__all__ = [
    "PRICE_FIELDS",
    "BillingAccount",
    "CatalogModel",
    "ContractDiscount",
    "FapiaoProfile",
    "FapiaoRequest",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberCounter",
    "LedgerBalance",
    "LedgerEntry",
    "ModelAlias",
    "ModelPolicy",
    "Notification",
    "PriceVersion",
    "Provider",
    "Quota",
    "QuotaAlert",
    "QuotaIncreaseRequest",
    "QuotaPeriod",
    "RollupWatermark",
    "StartedPriceError",
    "UsageEvent",
    "UsageRollup",
    "WebhookDelivery",
    "WebhookEndpoint",
]
