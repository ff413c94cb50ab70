"""What accounts announce to the apps above them, which accounts must not import."""

from django.dispatch import Signal

# Sent inside the transaction that changed an organization's status (approved, suspended,
# reinstated), with `organization`. projects makes the gateway re-read the organization's keys.
organization_status_changed = Signal()
