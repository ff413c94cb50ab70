"""The one way billing speaks to customers: owners and billing members (bell, email,
webhooks) each in their language, and the finance mailbox in the organization's. Here, below
billing, so that every billing sub-package (invoicing, packages ...) speaks the same way."""

import operator

from django.utils.functional import lazy

from accounts.languages import organization_language
from accounts.models import Membership
from accounts.permissions import Role
from notifications.services import notify
from portal.mail import render_email, send_email_later

# "%"-interpolation of a lazy text, itself lazy: rendered in each recipient's language.
interpolate_lazy = lazy(operator.mod, str)


def announce(*, organization, event_type: str, subject, message, data: dict) -> None:
    """Tell owners and billing members (bell, email, webhooks) each in their language, and
    the billing mailbox in the organization's (accounts/languages.py)."""
    members = (
        Membership.objects.for_org(organization)
        .filter(role__in=[Role.OWNER, Role.BILLING])
        .select_related("user")
    )
    notify(
        organization=organization,
        event_type=event_type,
        subject=subject,
        message=message,
        data=data,
        recipients=[membership.user for membership in members],
    )
    # The finance mailbox is no user of the portal: it gets the email alone.
    context = {"organization": organization, "subject": subject, "message": message, "data": data}
    email = render_email(
        "billing/email/announcement",
        to=[organization.billing_email],
        context=context,
        language=organization_language(organization),
        headers={"X-Token-Portal-Event": event_type},
    )
    send_email_later(email)
