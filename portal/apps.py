from django.apps import AppConfig
from django.urls import register_converter
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self):
        from portal import ids, metrics  # noqa: F401  (metrics connects the Celery task signals)

        # Before any URLconf is read: routes name ids by these (portal/ids.py).
        register_converter(ids.PublicIdConverter, "public_id")
        register_converter(ids.ModelIdConverter, "model_id")
