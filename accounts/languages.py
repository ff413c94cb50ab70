"""Each person's own language for what the portal sends them.

- `User.language` is set when a signed-in user picks a language with the switcher
  (`set_language` below wraps Django's view), on their profile page or with PATCH
  /api/v1/me (all three through accounts.services.update_profile, audited), and on sign-up
  from the request's language; blank means "never chose": such users get
  settings.NOTIFICATION_LANGUAGE.
- Texts addressed to users (bell, email) are rendered per recipient language: callers group
  recipients with `by_language` and render once per group inside `translation.override`.
- Mail to an organization rather than a person (its billing mailbox) is written in the
  organization's language: that of its longest-standing owner who chose one, else
  NOTIFICATION_LANGUAGE. Webhook payloads are data and carry no text to translate.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.utils.translation import get_supported_language_variant
from django.views.i18n import set_language as django_set_language

from accounts.audit_trail import Actor
from accounts.models import Membership
from accounts.permissions import Role


def supported(code: str | None) -> str:
    """The portal language matching `code` ("zh-Hans", "zh-hans", "en-us"...), or ""."""
    if not code:
        return ""
    try:
        return get_supported_language_variant(code.lower())
    except LookupError:
        return ""


def language_of(user) -> str:
    return user.language or settings.NOTIFICATION_LANGUAGE


def by_language(users: Iterable) -> dict[str, list]:
    """{language: [users]} in a stable order (the order users came in)."""
    groups = defaultdict(list)
    for user in users:
        groups[language_of(user)].append(user)
    return dict(groups)


def organization_language(organization) -> str:
    chosen = (
        Membership.objects.for_org(organization)
        .filter(role=Role.OWNER, user__is_active=True)
        .exclude(user__language="")
        .order_by("created_at", "pk")
        .values_list("user__language", flat=True)
        .first()
    )
    return chosen or settings.NOTIFICATION_LANGUAGE


def set_language(request):
    """Django's set_language, which also remembers a signed-in user's choice through
    accounts.services.update_profile (audited); not during a support session: the staff
    member's choice is not the customer's."""
    from accounts.services import update_profile  # services build on this module

    response = django_set_language(request)
    user = request.user
    language = supported(request.POST.get("language"))
    if (
        request.method == "POST"
        and language
        and user.is_authenticated
        and not getattr(user, "is_hijacked", False)
    ):
        update_profile(actor=Actor.from_request(request), language=language)
    return response


def set_language_cookie(response, language: str) -> None:
    """Show the pages in `language` from the next request on, as Django's set_language does."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
