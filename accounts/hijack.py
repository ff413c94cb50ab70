"""Staff view the portal as a customer's member, for support (django-hijack).

Rules: only active staff who are superusers or hold the "hijack_user" permission, from a
session that passed their own second factor (the same test as the staff console); never
another staff member or superuser; start and release are audited in each organization of the
member; while it lasts every portal page shows a banner with a Release button, and the
session is read-only: any unsafe request but the release (and the language switch) is
refused, so support never changes a customer's data in their name. Release signs the staff
member back in with a fresh session (no second-factor record): the console asks for their
code again.
"""

from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import JsonResponse
from django.utils.translation import gettext as _
from hijack import signals
from hijack.views import AcquireUserView

from accounts.audit_trail import Actor, record_user_event
from accounts.mfa import has_second_factor, session_passed_mfa

PERMISSION = "accounts.hijack_user"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def may_hijack(*, hijacker, hijacked) -> bool:
    """settings.HIJACK_PERMISSION_CHECK: who may view the portal as whom."""
    return bool(
        hijacked
        and hijacked.is_active
        and not (hijacked.is_staff or hijacked.is_superuser)
        and hijacker.is_active
        and hijacker.is_staff
        and (hijacker.is_superuser or hijacker.has_perm(PERMISSION))
        and has_second_factor(hijacker)
    )


class AcquireView(AcquireUserView):
    """Hijack's own view, plus: this session passed the staff member's second factor."""

    def test_func(self):
        return session_passed_mfa(self.request) and super().test_func()


class ReadOnlyWhileHijackedMiddleware:
    """Refuses unsafe requests in a support session, except the release and the language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method in SAFE_METHODS or not getattr(request.user, "is_hijacked", False):
            return None
        match = request.resolver_match
        if match.url_name == "set_language" or (
            "hijack" in match.namespaces and match.url_name == "release"
        ):
            return None  # the release itself, and the language of the pages
        message = _("This support session is read-only. Release it to act as yourself.")
        if request.path.startswith("/api/"):
            error = {"code": "read_only_support_session", "message": message}
            return JsonResponse({"error": error}, status=403)
        raise PermissionDenied(message)


@receiver(signals.hijack_started, dispatch_uid="accounts.hijack.started")
def audit_start(sender, hijacker, hijacked, request, **kwargs):
    _audit("support.view_as_started", hijacker, hijacked, request)


@receiver(signals.hijack_ended, dispatch_uid="accounts.hijack.ended")
def audit_end(sender, hijacker, hijacked, request, **kwargs):
    _audit("support.view_as_ended", hijacker, hijacked, request)


def _audit(action, hijacker, hijacked, request):
    record_user_event(
        actor=Actor.from_request(request, user=hijacker),
        user=hijacked,
        action=action,
        changes={"after": {"member": hijacked.email}},
    )
