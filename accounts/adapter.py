import dataclasses

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.headless.adapter import DefaultHeadlessAdapter
from django.contrib.sites.shortcuts import get_current_site
from django.utils import translation

from accounts.languages import supported
from portal.mail import send_email_later


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        """A new user's language is the one they signed up in (the switcher's, or the
        browser's Accept-Language as LocaleMiddleware resolved it)."""
        user.language = supported(translation.get_language())
        return super().save_user(request, user, form, commit=commit)

    def send_mail(self, template_prefix, email, context):
        """allauth's send_mail, but delivered from a worker: rendered here, for the request's
        site (allauth's templates use `current_site`), in the recipient's language (the one
        they chose, else the request's)."""
        request = allauth_context.request
        context = {
            "request": request,
            "email": email,
            "current_site": get_current_site(request),
            **context,
        }
        user = context.get("user")
        language = getattr(user, "language", "") or translation.get_language()
        with translation.override(language):
            send_email_later(self.render_mail(template_prefix, email, context))


class HeadlessAdapter(DefaultHeadlessAdapter):
    """The headless API's user payload carries the opaque public id, never the primary key
    (the OpenAPI description follows, so the id is typed as a string there too)."""

    def get_user_dataclass(self):
        fields = [
            (
                f.name,
                str | None if f.name == "id" else f.type,
                dataclasses.field(metadata=f.metadata),
            )
            for f in dataclasses.fields(super().get_user_dataclass())
        ]
        return dataclasses.make_dataclass("User", fields)

    def user_as_dataclass(self, user):
        return dataclasses.replace(super().user_as_dataclass(user), id=user.public_id or None)
