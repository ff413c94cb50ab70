"""How projects follow what happens below them."""

from django.dispatch import receiver

from accounts.signals import organization_status_changed
from projects.services import invalidate_organization_keys


@receiver(organization_status_changed, dispatch_uid="projects.organization_status_changed")
def refresh_keys_of(organization, **kwargs):
    """The gateway caches keys with their organization's status: make it re-read them."""
    invalidate_organization_keys(organization_id=organization.pk)
