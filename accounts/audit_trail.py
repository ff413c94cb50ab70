"""The one audit-trail writer every app uses, and Actor: who acts, from where.

A leaf: it imports only models and the change-shape helpers (accounts/audit.py), so any
service of any app can record an event without importing another app's services.
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
    """Who acts, from where: for the permission check and the audit trail."""

    user: User
    membership: Membership | None = None  # None for staff acting in the admin
    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request, membership: Membership | None = None) -> "Actor":
        return cls(
            user=request.user,
            membership=membership,
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )

    @property
    def organization(self):
        return self.membership.organization if self.membership else None


def record_actor_event(*, actor: Actor, action: str, target, changes: dict | None = None):
    """record_audit_event() for services that take an Actor rather than a request."""
    return record_audit_event(
        organization=actor.organization,
        action=action,
        actor=actor.user,
        target=target,
        changes=changes,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
    )


def record_user_event(
    *,
    user: User,
    action: str,
    actor: User | None,
    changes: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> list[AuditEvent]:
    """An event about a person rather than an organization's object (their profile, a support
    session on them): recorded in each organization they belong to, so that its audit log
    shows it; in none (staff only) when they belong to none."""
    organizations = list(Organization.objects.filter(memberships__user=user)) or [None]
    return [
        record_audit_event(
            organization=organization,
            action=action,
            actor=actor,
            target=user,
            changes=changes,
            request=request,
        )
        for organization in organizations
    ]
