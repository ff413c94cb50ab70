from billing.models.catalog import (
    PRICE_FIELDS,
    CatalogModel,
    ModelAlias,
    PriceVersion,
    Provider,
    StartedPriceError,
)
from billing.models.contracts import ContractDiscount
from billing.models.metering import RollupWatermark, UsageEvent, UsageRollup
from billing.models.policy import ModelPolicy

__all__ = [
    "PRICE_FIELDS",
    "CatalogModel",
    "ContractDiscount",
    "ModelAlias",
    "ModelPolicy",
    "PriceVersion",
    "Provider",
    "RollupWatermark",
    "StartedPriceError",
    "UsageEvent",
    "UsageRollup",
]
