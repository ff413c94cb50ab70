"""Writes of the accounts app.

Every function is keyword-only, takes the `actor` (accounts.audit_trail.Actor: who acts, from
where), runs in one transaction and records an AuditEvent.
A business rule that fails raises ValidationError (a form error / HTTP 400, nothing changes);
a role that may not take the step raises PermissionDenied (HTTP 403).
"""

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.audit_trail import Actor, record_actor_event, record_user_event
from accounts.languages import by_language
from accounts.models import (
    Department,
    Invitation,
    Membership,
    Organization,
    User,
)
from accounts.permissions import Action, Role, can
from accounts.selectors import active_owners, department_subtree_ids, verified_emails
from accounts.signals import organization_status_changed
from portal.mail import portal_url, render_email, send_email_later

INVITATION_LIFETIME = timedelta(days=7)

# What customers may change on their organization (the rest is staff's: status, payment).
CUSTOMER_FIELDS = (
    "name",
    "legal_name",
    "contact_name",
    "contact_phone",
    "address",
    "billing_email",
    "require_mfa",
)


# --- Profile -----------------------------------------------------------------------------


@transaction.atomic
def update_profile(
    *, actor: Actor, full_name: str | None = None, language: str | None = None
) -> User:
    """Signed-in users change their own name or language (None: unchanged); the profile page,
    the language switcher and PATCH /api/v1/me all come here. Email, password and second
    factors are allauth's. Returns `actor.user` with the new values."""
    user = actor.user
    data = {"full_name": full_name, "language": language}
    data = {field: value for field, value in data.items() if value is not None}
    if "full_name" in data:
        data["full_name"] = data["full_name"].strip()
    if "language" in data and data["language"] not in dict(settings.LANGUAGES):
        raise ValidationError({"language": _("Choose one of the portal's languages.")})
    locked = User.objects.select_for_update().get(pk=user.pk)
    changes = audit.apply(locked, data)
    if not changes:
        return user
    locked.clean_fields(exclude=[f.name for f in User._meta.fields if f.name not in data])
    locked.save(update_fields=list(changes["after"]))
    for field in changes["after"]:
        setattr(user, field, getattr(locked, field))
    record_user_event(actor=actor, user=locked, action="profile.updated", changes=changes)
    return user


# --- Organizations ----------------------------------------------------------------------


@transaction.atomic
def create_organization(
    *,
    actor: Actor,
    kind: str,
    name: str,
    legal_name: str,
    uscc: str,
    contact_name: str,
    contact_phone: str,
    address: str,
    billing_email: str,
) -> Membership:
    """A customer signs their organization up: it starts pending review, the actor owns it."""
    organization = Organization(
        kind=kind,
        name=name,
        legal_name=legal_name,
        uscc=uscc.strip().upper(),
        contact_name=contact_name,
        contact_phone=contact_phone,
        address=address,
        billing_email=billing_email,
        status=Organization.Status.PENDING,
    )
    organization.full_clean()
    organization.save()
    membership = Membership.objects.create(
        organization=organization, user=actor.user, role=Role.OWNER
    )
    record_actor_event(
        actor=actor,
        organization=organization,
        action="organization.created",
        target=organization,
        changes={"after": {"name": name, "uscc": organization.uscc, "kind": kind}},
    )
    return membership


@transaction.atomic
def update_organization(
    *, actor: Actor, organization: Organization, data: Mapping[str, Any]
) -> Organization:
    """Change fields of the organization. Callers decide which fields the actor may send."""
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    changes = audit.apply(organization, data)
    if changes:
        organization.full_clean()
        organization.save(update_fields=list(changes["after"]))
        record_actor_event(
            actor=actor,
            organization=organization,
            action="organization.updated",
            target=organization,
            changes=changes,
        )
    return organization


def approve_organization(*, actor: Actor, organization: Organization, note: str) -> Organization:
    """Staff: the organization passed review; the gateway now accepts its keys."""
    return _set_status(actor, organization, Organization.Status.ACTIVE, note)


def suspend_organization(
    *,
    actor: Actor,
    organization: Organization,
    reason: str,
    action: str = "organization.suspended",
) -> Organization:
    """Staff: the gateway refuses the organization's keys until it is approved again.
    `action` names the audit event when a rule suspends (billing: overdue invoices)."""
    return _set_status(actor, organization, Organization.Status.SUSPENDED, reason, action=action)


@transaction.atomic
def _set_status(actor: Actor, organization, status, note, action=None) -> Organization:
    if not note.strip():
        raise ValidationError({"note": _("Give a note for the organization.")})
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    changes = audit.apply(organization, {"status": status, "status_note": note.strip()})
    organization.status_changed_at = timezone.now()
    organization.save(update_fields=["status", "status_note", "status_changed_at"])
    organization_status_changed.send(sender=Organization, organization=organization)
    record_actor_event(
        actor=actor,
        organization=organization,
        action=action or f"organization.{status}",
        target=organization,
        changes=changes,
    )
    context = {"organization": organization, "note": organization.status_note}
    for language, owners in by_language(active_owners(organization)).items():
        email = render_email(
            "accounts/email/organization_status",
            to=[owner.email for owner in owners],
            context=context,
            language=language,
        )
        send_email_later(email)
    return organization


# --- Invitations ------------------------------------------------------------------------


@transaction.atomic
def invite_member(
    *, actor: Actor, email: str, role: str, department: Department | None = None
) -> Invitation:
    """Email an invitation link to join `actor`'s organization; valid for 7 days."""
    organization = _organization_of(actor)
    email = email.strip().lower()
    _check_may_grant(actor, new_role=role)
    _check_department(organization, department, "department")
    if Membership.objects.for_org(organization).filter(user__email__iexact=email).exists():
        raise ValidationError({"email": _("This person is already a member.")})
    if Invitation.objects.for_org(organization).filter(email=email, status="pending").exists():
        raise ValidationError(
            {"email": _("An invitation to this address is pending: resend or revoke it.")}
        )
    invitation = Invitation(
        organization=organization,
        email=email,
        role=role,
        department=department,
        created_by=actor.user,
    )
    token = _new_token(invitation)
    invitation.full_clean(exclude=["token_digest"])
    invitation.save()
    record_actor_event(
        actor=actor,
        action="invitation.sent",
        target=invitation,
        changes={"after": {"email": email, "role": role, "department": audit.plain(department)}},
    )
    _send_invitation(invitation, token)
    return invitation


@transaction.atomic
def resend_invitation(*, actor: Actor, invitation: Invitation) -> Invitation:
    """A new link (the old one stops working) and a new 7-day expiry."""
    invitation = _lock_invitation(actor, invitation)
    if invitation.status != Invitation.Status.PENDING:
        raise ValidationError(_("Only a pending invitation can be sent again."))
    token = _new_token(invitation)
    invitation.save(update_fields=["token_digest", "expires_at"])
    record_actor_event(actor=actor, action="invitation.resent", target=invitation)
    _send_invitation(invitation, token)
    return invitation


@transaction.atomic
def revoke_invitation(*, actor: Actor, invitation: Invitation) -> Invitation:
    invitation = _lock_invitation(actor, invitation)
    if invitation.status != Invitation.Status.PENDING:
        raise ValidationError(_("Only a pending invitation can be revoked."))
    changes = audit.apply(invitation, {"status": Invitation.Status.REVOKED})
    invitation.save(update_fields=["status"])
    record_actor_event(actor=actor, action="invitation.revoked", target=invitation, changes=changes)
    return invitation


def invitation_problem(invitation: Invitation | None, user) -> str | None:
    """Why `user` cannot accept `invitation` now, or None (a signed-out visitor may go on
    to sign in when the link itself is good)."""
    if invitation is None:
        return _("This invitation link is not valid. Ask for a new invitation.")
    if invitation.status == Invitation.Status.ACCEPTED:
        return _("This invitation has already been used.")
    if invitation.status == Invitation.Status.REVOKED:
        return _("This invitation was withdrawn. Ask for a new invitation.")
    if invitation.is_expired:
        return _("This invitation has expired. Ask for a new invitation.")
    if user.is_authenticated and invitation.email not in verified_emails(user):
        return _(
            "This invitation was sent to another email address. Sign in with that address, "
            "or verify it on your account, then open the link again."
        )
    return None


@transaction.atomic
def accept_invitation(*, actor: Actor, invitation: Invitation) -> Membership:
    """The invited person (the actor) joins, if the invitation is usable and addressed to
    their verified email."""
    user = actor.user
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    problem = invitation_problem(invitation, user)
    if problem:
        raise ValidationError(problem)
    organization = invitation.organization
    if Membership.objects.for_org(organization).filter(user=user).exists():
        raise ValidationError(_("You are already a member of this organization."))
    membership = Membership.objects.create(
        organization=organization,
        user=user,
        role=invitation.role,
        department=invitation.department,
    )
    invitation.status = Invitation.Status.ACCEPTED
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["status", "accepted_at"])
    record_actor_event(
        actor=actor,
        organization=organization,
        action="invitation.accepted",
        target=membership,
        changes={
            "after": {"role": membership.role, "department": audit.plain(invitation.department)}
        },
    )
    return membership


def _new_token(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_digest = Invitation.digest(token)
    invitation.expires_at = timezone.now() + INVITATION_LIFETIME
    return token


def _lock_invitation(actor: Actor, invitation: Invitation) -> Invitation:
    return (
        Invitation.objects.for_org(_organization_of(actor))
        .select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=invitation.pk)
    )


def _send_invitation(invitation: Invitation, token: str) -> None:
    accept_path = reverse("accounts:join", args=[token])
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "inviter": invitation.created_by,
        "accept_url": portal_url(accept_path),
    }
    # The invitee's own language when they already have an account, else the inviter's page's.
    invitee = User.objects.filter(email__iexact=invitation.email).exclude(language="").first()
    send_email_later(
        render_email(
            "accounts/email/invitation",
            to=[invitation.email],
            context=context,
            language=invitee.language if invitee else None,
        )
    )


# --- Members ----------------------------------------------------------------------------


@transaction.atomic
def change_member(
    *, actor: Actor, membership: Membership, role: str, department: Department | None
) -> Membership:
    """Change a member's role and home department. Only owners grant or take the owner role;
    the last owner keeps it."""
    membership = _lock_member(actor, membership)
    if role != membership.role:
        _check_may_grant(actor, new_role=role, old_role=membership.role)
        if membership.role == Role.OWNER:
            _check_not_last_owner(membership, _("The last owner cannot be demoted."))
    _check_department(membership.organization, department, "department")
    changes = audit.apply(membership, {"role": role, "department": department})
    if changes:
        membership.save(update_fields=["role", "department"])
        record_actor_event(actor=actor, action="member.changed", target=membership, changes=changes)
    return membership


@transaction.atomic
def remove_member(*, actor: Actor, membership: Membership) -> None:
    membership = _lock_member(actor, membership)
    if membership.role == Role.OWNER:
        _check_may_grant(actor, new_role=None, old_role=Role.OWNER)
        _check_not_last_owner(membership, _("The last owner cannot be removed."))
    record_actor_event(
        actor=actor,
        action="member.removed",
        target=membership,
        changes={
            "before": {
                "user": membership.user.email,
                "role": membership.role,
                "department": audit.plain(membership.department),
            }
        },
    )
    membership.delete()


def _lock_member(actor: Actor, membership: Membership) -> Membership:
    return (
        Membership.objects.for_org(_organization_of(actor))
        .select_for_update(of=("self",))
        .select_related("organization", "user", "department")
        .get(pk=membership.pk)
    )


def _organization_of(actor: Actor) -> Organization:
    """The organization a member acts in; these services are for members only."""
    if actor.membership is None:
        raise PermissionDenied
    return actor.membership.organization


def _check_may_grant(actor: Actor, *, new_role: str | None, old_role: str | None = None):
    if Role.OWNER in (new_role, old_role) and not can(actor.membership, Action.MANAGE_OWNERS):
        raise PermissionDenied(_("Only an owner can grant or remove the owner role."))


def _check_not_last_owner(membership: Membership, message: str) -> None:
    # Lock every owner row so that two owners demoting each other cannot both succeed.
    owners = list(
        Membership.objects.for_org(membership.organization)
        .filter(role=Role.OWNER)
        .select_for_update()
        .values_list("pk", flat=True)
    )
    if owners == [membership.pk]:
        raise ValidationError(message)


# --- Departments ------------------------------------------------------------------------


@transaction.atomic
def create_department(
    *,
    actor: Actor,
    name: str,
    code: str,
    parent: Department | None = None,
    managers: list[User] | None = None,
) -> Department:
    organization = _organization_of(actor)
    _check_department(organization, parent, "parent")
    _check_code_free(organization, code)
    department = Department(organization=organization, name=name, code=code, parent=parent)
    department.full_clean(validate_unique=False, validate_constraints=False)
    department.save()
    managers = _check_managers(organization, managers or [])
    department.managers.set(managers)
    record_actor_event(
        actor=actor,
        action="department.created",
        target=department,
        changes={
            "after": {
                "name": name,
                "code": code,
                "parent": audit.plain(parent),
                "managers": sorted(m.email for m in managers),
            }
        },
    )
    return department


@transaction.atomic
def update_department(
    *, actor: Actor, department: Department, data: Mapping[str, Any]
) -> Department:
    """Rename, recode, move (a new `parent`) or change `managers`. A move never makes a cycle."""
    organization = _organization_of(actor)
    department = Department.objects.for_org(organization).select_for_update().get(pk=department.pk)
    data = dict(data)
    managers = data.pop("managers", None)
    if "parent" in data:
        _check_move(department, data["parent"])
    if data.get("code", department.code) != department.code:
        _check_code_free(organization, data["code"])
    changes = audit.apply(department, data)
    if changes:
        department.full_clean(validate_unique=False, validate_constraints=False)
        department.save(update_fields=list(changes["after"]))
    if managers is not None:
        managers = _check_managers(organization, managers)
        before = sorted(department.managers.values_list("email", flat=True))
        after = sorted(m.email for m in managers)
        if before != after:
            department.managers.set(managers)
            changes.setdefault("before", {})["managers"] = before
            changes.setdefault("after", {})["managers"] = after
    if changes:
        record_actor_event(
            actor=actor, action="department.updated", target=department, changes=changes
        )
    return department


@transaction.atomic
def delete_department(*, actor: Actor, department: Department) -> None:
    """Refused while the department has members, sub-departments or anything else it owns
    (projects protect their department)."""
    department = (
        Department.objects.for_org(_organization_of(actor))
        .select_for_update()
        .get(pk=department.pk)
    )
    if department.members.exists():
        raise ValidationError(_("Move this department's members to another department first."))
    try:
        department.delete()
    except (ProtectedError, RestrictedError) as error:
        owned = sorted({str(obj._meta.verbose_name_plural) for obj in _blocking(error)})
        raise ValidationError(
            _("This department still owns %(owned)s: move or delete them first.")
            % {"owned": ", ".join(owned)}
        ) from error
    record_actor_event(  # the deleted row keeps its public id and label in memory
        actor=actor,
        action="department.deleted",
        target=department,
        changes={"before": {"name": department.name, "code": department.code}},
    )


def _blocking(error: ProtectedError | RestrictedError):
    return (
        error.protected_objects if isinstance(error, ProtectedError) else error.restricted_objects
    )


def _check_department(organization, department, field: str) -> None:
    """Services assert the organization again: a form or serializer is not the only guard."""
    if department is not None and department.organization_id != organization.id:
        raise ValidationError({field: _("Choose a department of this organization.")})


def _check_code_free(organization, code: str) -> None:
    if Department.objects.for_org(organization).filter(code=code).exists():
        raise ValidationError({"code": _("Another department already uses this code.")})


def _check_move(department: Department, parent: Department | None) -> None:
    _check_department(department.organization, parent, "parent")
    if parent is not None and parent.id in department_subtree_ids(
        department.organization_id, [department.id]
    ):
        raise ValidationError(
            {"parent": _("A department cannot move under itself or one of its sub-departments.")}
        )


def _check_managers(organization, users) -> list[User]:
    users = list(users)
    members = set(
        Membership.objects.for_org(organization)
        .filter(user__in=users)
        .values_list("user_id", flat=True)
    )
    if any(user.id not in members for user in users):
        raise ValidationError({"managers": _("Managers must be members of the organization.")})
    return users
