"""The gateway's catalog cache follows every catalog change, admin edits included."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing.catalog.models import CatalogModel, ModelAlias
from projects import authorize


@receiver([post_save, post_delete], sender=CatalogModel)
@receiver([post_save, post_delete], sender=ModelAlias)
def catalog_changed(**kwargs):
    authorize.invalidate_catalog()
