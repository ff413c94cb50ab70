"""The gateway's catalog cache follows every catalog change, admin edits included."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing.models import CatalogModel, ModelAlias
from projects import gateway


@receiver([post_save, post_delete], sender=CatalogModel)
@receiver([post_save, post_delete], sender=ModelAlias)
def catalog_changed(**kwargs):
    gateway.invalidate_catalog()
