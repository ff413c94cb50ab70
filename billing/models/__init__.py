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
from billing.models.ledger import LedgerEntry
from billing.models.metering import RollupWatermark, UsageEvent, UsageRollup
from billing.models.policy import ModelPolicy

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
    "LedgerEntry",
    "ModelAlias",
    "ModelPolicy",
    "PriceVersion",
    "Provider",
    "RollupWatermark",
    "StartedPriceError",
    "UsageEvent",
    "UsageRollup",
]
