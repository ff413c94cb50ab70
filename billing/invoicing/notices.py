"""The one way billing speaks to customers: owners and billing members (bell, email,
webhooks) each in their language, and the finance mailbox in the organization's."""

from notifications.announce import announce, interpolate_lazy  # noqa: F401 (billing's voice)
