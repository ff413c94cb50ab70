"""Actor (who acts, from where) and the audit-trail writers every app uses.

Services take an `Actor` and record through `record_actor_event` (or `record_user_event` for
an event about a person); `record_audit_event` is the low-level writer beneath both. A leaf:
it imports only models and the change-shape helpers (accounts/audit.py), so any service of
any app can record an event without importing another app's services.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest

from accounts import audit
from accounts.models import AuditEvent, Membership, Organization, User


def record_audit_event(
    *,
    organization: Organization | None,
    action: str,
    actor: User | None = None,
    actor_label: str = "",
    target: models.Model | None = None,
    changes: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> AuditEvent:
    """Append one event. `actor_label` names actors that are not users (a credential, "system").

    Where the caller has no request, it passes the client's `ip_address` / `user_agent`.

    `changes` is {"before": {...}, "after": {...}} (accounts/audit.py: `diff()`, `apply()`,
    `changes()` build it; anything else is refused), JSON-ready after Decimal/datetime values
    are turned into strings.
    """
    if changes and not audit.is_canonical(changes):
        raise ValueError(f'audit changes must be {{"before": ..., "after": ...}}: {changes!r}')
    meta = request.META if request is not None else {}
    return AuditEvent.objects.create(
        organization=organization,
        actor=actor,
        actor_label=(actor_label or (actor.email if actor else "system"))[:200],
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(getattr(target, "public_id", None) or getattr(target, "pk", "") or ""),
        target_label=str(target)[:200] if target is not None else "",
        changes=json.loads(json.dumps(changes or {}, cls=DjangoJSONEncoder)),
        ip_address=ip_address or meta.get("REMOTE_ADDR") or None,
        user_agent=(user_agent or meta.get("HTTP_USER_AGENT", ""))[:300],
    )


@dataclass(frozen=True)
class Actor:
    """Who acts, from where: what every service takes for the permission check and the audit
    trail. A member acting in the portal has a `membership`; staff in the admin have none;
    the platform's own jobs (the billing day, scheduled tasks) are `Actor.system()`."""

    user: User | None  # None: the platform itself, audited as "system"
    membership: Membership | None = None
    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(
        cls, request, membership: Membership | None = None, *, user: User | None = None
    ) -> "Actor":
        """`user` when the person acting is not `request.user` (staff releasing a support
        session are still signed in as the member)."""
        return cls(
            user=user or request.user,
            membership=membership,
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )

    @classmethod
    def system(cls) -> "Actor":
        return cls(user=None)

    @property
    def organization(self) -> Organization | None:
        return self.membership.organization if self.membership else None


def record_actor_event(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    changes: Mapping[str, Any] | None = None,
    organization: Organization | None = None,
) -> AuditEvent:
    """The writer services call: `actor` did `action` to `target`. The event belongs to the
    actor's organization unless `organization` names the one acted on (staff or the system
    acting on an organization, a person joining or creating one)."""
    return record_audit_event(
        organization=organization or actor.organization,
        action=action,
        actor=actor.user,
        target=target,
        changes=changes,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
    )


def record_user_event(
    *,
    actor: Actor,
    user: User,
    action: str,
    changes: Mapping[str, Any] | None = None,
) -> list[AuditEvent]:
    """An event about a person rather than an organization's object (their profile, a support
    session on them): recorded in each organization they belong to, so that its audit log
    shows it; in none (staff only) when they belong to none."""
    organizations = list(Organization.objects.filter(memberships__user=user)) or [None]
    return [
        record_audit_event(
            organization=organization,
            action=action,
            actor=actor.user,
            target=user,
            changes=changes,
            ip_address=actor.ip_address,
            user_agent=actor.user_agent,
        )
        for organization in organizations
    ]
