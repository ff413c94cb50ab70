"""What the portal asks allauth.mfa: does a user have a second factor, did this session use it.
And what it records: turning a second factor on or off and regenerating recovery codes are
audited (allauth's signals, sent by its MFA pages and its headless API alike)."""

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from allauth.mfa.utils import is_mfa_enabled
from django.dispatch import receiver

from accounts import audit
from accounts.audit_trail import Actor, record_user_event

# The factors allauth challenges at sign-in; recovery codes only back them up.
SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def has_second_factor(user) -> bool:
    return is_mfa_enabled(user, SECOND_FACTORS)


def session_passed_mfa(request) -> bool:
    """Whether the signed-in user proved a second factor in this session (at sign-in or since)."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


# (signal, authenticator type) -> audit action. Recovery codes that come with a first factor
# are part of its activation; only their regeneration is an event of its own.
ACTIONS = {
    (authenticator_added, Authenticator.Type.TOTP): "mfa.totp_activated",
    (authenticator_removed, Authenticator.Type.TOTP): "mfa.totp_deactivated",
    (authenticator_added, Authenticator.Type.WEBAUTHN): "mfa.security_key_added",
    (authenticator_removed, Authenticator.Type.WEBAUTHN): "mfa.security_key_removed",
    (authenticator_reset, Authenticator.Type.RECOVERY_CODES): "mfa.recovery_codes_regenerated",
}


@receiver(authenticator_added, dispatch_uid="accounts.mfa.added")
@receiver(authenticator_removed, dispatch_uid="accounts.mfa.removed")
@receiver(authenticator_reset, dispatch_uid="accounts.mfa.reset")
def audit_authenticator_change(signal, sender, request, user, authenticator, **kwargs):
    action = ACTIONS.get((signal, authenticator.type))
    if action is None:
        return
    named = {}
    if authenticator.type == Authenticator.Type.WEBAUTHN:
        named = {"security_key": authenticator.wrap().name}
    removed = signal is authenticator_removed
    changes = audit.changes(before=named) if removed else audit.changes(after=named)
    _audit(request, user, action=action, changes=changes)


def _audit(request, user, *, action, changes):
    """An event about the person, in each of their organizations (record_user_event)."""
    record_user_event(
        actor=Actor.from_request(request, user=user), user=user, action=action, changes=changes
    )
