"""Staff writes to the relay's channels: one transaction each, audited."""

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import audit
from accounts.audit_trail import Actor, record_actor_event
from billing.catalog.selectors import resolve_model
from relay import channels
from relay.models import Channel, ChannelModel

AUDITED = ("name", "base_url", "priority", "weight", "is_enabled")


@transaction.atomic
def save_channel(*, actor: Actor, channel: Channel, credential: str = "") -> Channel:
    """Save a new or changed channel; a non-empty `credential` replaces the stored one."""
    before = Channel.objects.filter(pk=channel.pk).values(*AUDITED).first() if channel.pk else None
    if credential:
        channels.set_credential(channel, credential)
    channel.full_clean()
    channel.save()
    after = {name: getattr(channel, name) for name in AUDITED}
    changes = audit.diff(before or {}, after)
    if credential:
        changes.setdefault("after", {})["credential"] = "(replaced)"
    record_actor_event(
        actor=actor,
        action="relay_channel.created" if before is None else "relay_channel.changed",
        target=channel,
        changes=changes,
    )
    return channel


@transaction.atomic
def configure_channel(
    *, actor: Actor, name: str, base_url: str, credential: str, models: dict[str, str],
    priority: int = 0, weight: int = 1,
) -> Channel:  # fmt: skip
    """Create or update the channel `name` serving `models` ({catalog id or alias: upstream
    name, "" for the same}); for the management command."""
    channel = Channel.objects.filter(name=name).first() or Channel(name=name)
    channel.base_url, channel.priority, channel.weight = base_url, priority, weight
    save_channel(actor=actor, channel=channel, credential=credential)
    for identifier, upstream in models.items():
        model = resolve_model(identifier)
        if model is None:
            raise ValidationError(f"unknown catalog model: {identifier}")
        ChannelModel.objects.update_or_create(
            channel=channel, model=model, defaults={"upstream_model": upstream}
        )
    return channel
