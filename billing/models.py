"""Django loads an app's models from `<app>.models`: billing's live in its sub-packages."""

from billing.catalog.models import (
    PRICE_FIELDS,
    CatalogModel,
    ContractDiscount,
    ModelAlias,
    ModelPolicy,
    PriceVersion,
    Provider,
    StartedPriceError,
)
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.consolidated_models import ConsolidatedBilling, OperatorCharge
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.models import (
    BillingAccount,
    FapiaoProfile,
    FapiaoRequest,
    Invoice,
    InvoiceLine,
    InvoiceNumberCounter,
    LedgerBalance,
    LedgerEntry,
)
from billing.managed.models import AccountManager, Proposal, Settlement, SettlementRow
from billing.metering.models import RollupWatermark, UsageEvent, UsageRollup
from billing.packages.models import (
    Entitlement,
    EntitlementEntry,
    Offer,
    OfferTerms,
    Subscription,
    UsageCoverage,
)
from billing.payments.models import Payment, PaymentRefund
from billing.quotas.models import Quota, QuotaAlert, QuotaIncreaseRequest, QuotaPeriod
from billing.sales.models import PlanFee, Purchase

__all__ = [
    "PRICE_FIELDS",
    "AccountManager",
    "BankStatementLine",
    "BillingAccount",
    "CatalogModel",
    "ConsolidatedBilling",
    "ContractDiscount",
    "Entitlement",
    "EntitlementEntry",
    "FapiaoDocument",
    "FapiaoProfile",
    "FapiaoRequest",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberCounter",
    "LedgerBalance",
    "LedgerEntry",
    "ModelAlias",
    "ModelPolicy",
    "Offer",
    "OfferTerms",
    "OperatorCharge",
    "Payment",
    "PaymentRefund",
    "PlanFee",
    "PriceVersion",
    "Proposal",
    "Provider",
    "Purchase",
    "Quota",
    "QuotaAlert",
    "QuotaIncreaseRequest",
    "QuotaPeriod",
    "RollupWatermark",
    "Settlement",
    "SettlementRow",
    "StartedPriceError",
    "Subscription",
    "UsageCoverage",
    "UsageEvent",
    "UsageRollup",
]
