from billing.models.catalog import CatalogModel, ModelAlias, PriceVersion, Provider

__all__ = ["CatalogModel", "ModelAlias", "PriceVersion", "Provider"]
