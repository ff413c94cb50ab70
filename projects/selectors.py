from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from accounts.models import Department
from accounts.permissions import EVERYWHERE, Action, scope_for
from projects import authorize
from projects.models import ApiKey

CHAT = "chat"  # the catalog kind the examples call (chat completions)

# The relay sits above projects: it registers at app ready which models its channels serve
# (relay.apps). The quickstart's examples call the relay, so those come first.
_served_models: Callable[[], list[str]] = list


def use_served_models(served: Callable[[], list[str]]) -> None:
    global _served_models
    _served_models = served


def departments_for(membership, action: Action):
    """The departments in which `membership` may take `action` (e.g. to create a project)."""
    departments = Department.objects.for_org(membership.organization)
    scope = scope_for(membership, action)
    return departments if scope is EVERYWHERE else departments.filter(id__in=scope)


@dataclass(frozen=True)
class Quickstart:
    """What a key's quickstart shows: the relay's base URL, the chat models the key may call
    and the one its examples use."""

    base_url: str
    models: list[str]
    model: str | None


def quickstart_for(key: ApiKey, requested_model: str | None = None) -> Quickstart:
    """The quickstart of `key` (an unsaved ApiKey(project=...) for any key of a project): the
    models it may call, those the relay serves first; the examples use `requested_model` if
    the key may call it, else the first."""
    served = set(_served_models())
    models = sorted(authorize.models_for_key(key, kind=CHAT), key=lambda m: m not in served)
    model = requested_model if requested_model in models else next(iter(models), None)
    return Quickstart(base_url=settings.RELAY_PUBLIC_URL, models=models, model=model)
