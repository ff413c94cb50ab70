"""Organizations that require two-factor authentication (Organization.require_mfa).

A member whose current organization requires MFA and who has no second factor yet is sent
from every page to the MFA setup page (API calls get 403 "mfa_required") until they add
one. What they need on the way stays open: the MFA pages, re-authentication (activating
TOTP may ask for it), sign-out, the language switch, allauth's headless API (where app
clients set up MFA) and the health check. Static files never reach this middleware. Staff
viewing the portal as a member (accounts/hijack.py) pass: they proved their own factor.
"""

import copy

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from accounts.mfa import has_second_factor
from accounts.tenancy import current_membership

API_PREFIX = "/api/"
OPEN_URL_NAMES = {"account_logout", "account_reauthenticate", "set_language", "healthz"}


class OrganizationMFAMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if is_open(request.resolver_match) or getattr(request.user, "is_hijacked", False):
            # A support session (accounts/hijack.py) is started only by staff who passed
            # their own second factor, and is read-only: it neither needs the member's
            # factor nor may set one up for them.
            return None
        is_api = request.path.startswith(API_PREFIX)
        if is_api:
            request = as_seen_by_the_api(request)
        membership = current_membership(request)
        if (
            membership is None
            or not membership.organization.require_mfa
            or has_second_factor(request.user)
        ):
            return None
        message = _(
            "%(organization)s requires two-factor authentication for all members. "
            "Set it up to continue."
        ) % {"organization": membership.organization.name}
        if is_api:
            return JsonResponse({"error": {"code": "mfa_required", "message": message}}, status=403)
        messages.warning(request, message)
        return redirect("mfa_index")


def is_open(match) -> bool:
    url_name = match.url_name or ""
    return (
        url_name in OPEN_URL_NAMES or url_name.startswith("mfa_") or "headless" in match.namespaces
    )


def as_seen_by_the_api(request):
    """The request with the user the REST API will see: the session's, or the owner of
    allauth's X-Session-Token (app clients), so that the current membership resolves the
    same way it will in the view. A copy: the real request keeps its anonymous user, as
    DRF's session authentication expects."""
    if request.user.is_authenticated:
        return request
    authenticated = XSessionTokenAuthentication().authenticate(request)
    if authenticated is None:
        return request
    token_request = copy.copy(request)
    token_request.user = authenticated[0]
    return token_request
