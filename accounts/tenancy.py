"""Tenant isolation, in one place.

Every customer object can be reached from an Organization. Its queryset knows the path
(`tenant_field`, and `department_field` for department-owned objects) and every view,
viewset and selector narrows with `for_org()` / `for_member()`; nothing filters by
organization by hand.

The current organization is resolved once per request from the member's choice (kept in
the session for browsers, sent as the X-Organization header by API clients) and checked
against the user's memberships, never trusted as sent. Another organization's object is
therefore simply absent: a 404, never a 403 that confirms it exists.
"""

from django.db import models
from django.utils.functional import SimpleLazyObject

from accounts.permissions import EVERYWHERE, Action, scope_for
from portal.ids import is_public_id

SESSION_KEY = "organization"
HEADER = "HTTP_X_ORGANIZATION"


class TenantQuerySet(models.QuerySet):
    def for_org(self, organization):
        field = getattr(self.model, "tenant_field", "organization")
        return self.filter(**{field: organization})

    def for_member(self, membership, action: Action):
        """The rows `membership` may take `action` on: its organization, narrowed to the
        departments the action is allowed in when the model belongs to a department."""
        queryset = self.for_org(membership.organization)
        scope = scope_for(membership, action)
        if scope is EVERYWHERE:
            return queryset
        department_field = getattr(self.model, "department_field", None)
        if department_field is None:
            return queryset if scope else queryset.none()
        return queryset.filter(**{f"{department_field}__in": scope})


def current_membership(request):
    """The requesting user's membership in the organization the request acts for, or None."""
    if not hasattr(request, "_current_membership"):
        request._current_membership = _resolve_membership(request)
    return request._current_membership


def _resolve_membership(request):
    from accounts.selectors import memberships_of  # selectors -> models -> this module

    # A request refused before the authentication middleware (a malformed path) has no user.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = memberships_of(user)
    wanted = request.META.get(HEADER) or request.session.get(SESSION_KEY)
    if wanted:
        if not is_public_id(wanted):  # names no organization; never sent to the database
            return None
        return memberships.filter(organization__public_id=wanted).first()
    return memberships.order_by("created_at").first()


def choose_organization(request, membership) -> None:
    request.session[SESSION_KEY] = membership.organization.public_id
    request._current_membership = membership


def membership_context(request):
    """Template context: `membership` (lazy) for the navigation and the organization switcher."""
    return {"membership": SimpleLazyObject(lambda: current_membership(request))}
