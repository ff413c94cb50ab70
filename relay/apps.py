from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RelayConfig(AppConfig):
    name = "relay"
    label = "gateway"  # the label its tables and migrations were made under
    verbose_name = _("Relay")

    def ready(self):
        from relay import channels  # noqa: F401 (connects the route-cache invalidation)
