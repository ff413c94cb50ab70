from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RelayConfig(AppConfig):
    name = "relay"
    label = "gateway"  # the label its tables and migrations were made under
    verbose_name = _("Relay")

    def ready(self):
        from projects import selectors
        from relay import channels  # (also connects the route-cache invalidation)

        selectors.use_served_models(channels.served_models)
