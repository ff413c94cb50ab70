from billing.models import CatalogModel


def resolve_model(identifier: str) -> CatalogModel | None:
    """The catalog model reached by a model id or any of its aliases."""
    return (
        CatalogModel.objects.filter(model_id=identifier).first()
        or CatalogModel.objects.filter(aliases__alias=identifier).first()
    )
