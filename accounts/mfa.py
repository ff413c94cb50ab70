"""What the portal asks allauth.mfa: does a user have a second factor, did this session use it."""

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled

# The factors allauth challenges at sign-in; recovery codes only back them up.
SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def has_second_factor(user) -> bool:
    return is_mfa_enabled(user, SECOND_FACTORS)


def session_passed_mfa(request) -> bool:
    """Whether the signed-in user proved a second factor in this session (at sign-in or since)."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)
