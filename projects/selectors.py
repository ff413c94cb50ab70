from dataclasses import dataclass

from django.conf import settings

from accounts.models import Department
from accounts.permissions import EVERYWHERE, Action, scope_for
from projects import authorize
from projects.models import ApiKey

CHAT = "chat"  # the catalog kind the examples call (chat completions)


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
    """The quickstart of `key` (an unsaved ApiKey(project=...) for any key of a project); the
    examples use `requested_model` if the key may call it, else the first such model."""
    models = authorize.models_for_key(key, kind=CHAT)
    model = requested_model if requested_model in models else next(iter(models), None)
    return Quickstart(base_url=settings.RELAY_PUBLIC_URL, models=models, model=model)
