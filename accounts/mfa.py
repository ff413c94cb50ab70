"""What the portal asks allauth.mfa: does a user have a second factor, did this session use it.
And what it records: adding or removing a security key is audited (allauth's signals, sent by
its MFA pages and its headless API alike)."""

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed
from allauth.mfa.utils import is_mfa_enabled
from django.dispatch import receiver

from accounts import audit

# The factors allauth challenges at sign-in; recovery codes only back them up.
SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def has_second_factor(user) -> bool:
    return is_mfa_enabled(user, SECOND_FACTORS)


def session_passed_mfa(request) -> bool:
    """Whether the signed-in user proved a second factor in this session (at sign-in or since)."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


@receiver(authenticator_added, dispatch_uid="accounts.mfa.added")
def audit_added(sender, request, user, authenticator, **kwargs):
    if authenticator.type == Authenticator.Type.WEBAUTHN:
        _audit(
            request,
            user,
            action="mfa.security_key_added",
            changes=audit.changes(after={"security_key": authenticator.wrap().name}),
        )


@receiver(authenticator_removed, dispatch_uid="accounts.mfa.removed")
def audit_removed(sender, request, user, authenticator, **kwargs):
    if authenticator.type == Authenticator.Type.WEBAUTHN:
        _audit(
            request,
            user,
            action="mfa.security_key_removed",
            changes=audit.changes(before={"security_key": authenticator.wrap().name}),
        )


def _audit(request, user, *, action, changes):
    """An event about the person, in each of their organizations (record_user_event)."""
    from accounts.services import record_user_event  # services import the models this needs

    record_user_event(user=user, action=action, actor=user, changes=changes, request=request)
