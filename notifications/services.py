"""notify(): tell people about an event in the portal (bell), by email and by webhook.

Reused by every area that announces something (quotas now, invoices later):

    notify(organization=org, event_type="quota.threshold_reached",
           subject=..., message=..., data={...}, recipients=[user, ...], link="/path/")

- subject / message should be lazy translations (gettext_lazy, format_lazy, a lazy "%"
  interpolation; money already formatted with format_money): the bell keeps them as message
  ids with parameters (portal.lazy_text) and renders them in the reader's language when read;
  emails are rendered once per recipient language (User.language, else
  settings.NOTIFICATION_LANGUAGE; see accounts/languages.py), since notifications are mostly
  sent by workers, outside any request, and each member reads their own language;
- each recipient gets a Notification row (the bell) and an email rendered from the
  template triad billing/email/<event> (dots become underscores), else the event's family
  ("quota"), else "notification" (portal.mail.render_email);
- every active webhook endpoint of the organization subscribed to `event_type` gets a
  WebhookDelivery of the Standard Webhooks payload {"type", "timestamp", "data"}.

Must run inside the caller's transaction: email and webhooks leave after commit.
"""

from collections.abc import Iterable

from django.utils import timezone, translation
from django.utils.functional import SimpleLazyObject

from accounts.languages import by_language
from accounts.tenancy import current_membership
from notifications import webhooks
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from portal import lazy_text
from portal.ids import new_public_id
from portal.mail import portal_url, render_email, send_email_later


def notify(
    *,
    organization,
    event_type: str,
    subject,
    message,
    data: dict,
    recipients: Iterable,
    link: str = "",
) -> str:
    """Announce an event; returns its event id (the webhook-id of its deliveries)."""
    recipients = list({user.pk: user for user in recipients if user.is_active}.values())
    event_id = new_public_id("msg")
    # Kept as message ids and parameters: the bell renders them in the reader's language when
    # read; emails are rendered now, in each recipient's language.
    content = {"subject": lazy_text.dump(subject), "message": lazy_text.dump(message)}
    for language, users in by_language(recipients).items():
        with translation.override(language):
            _tell(organization, event_type, content, data, users, link)
    _queue_webhooks(organization, event_type, event_id, data)
    return event_id


def _tell(organization, event_type, content, data, users, link) -> None:
    """Bell rows and emails for `users`, in the active language."""
    subject = lazy_text.render(content["subject"])
    message = lazy_text.render(content["message"])
    Notification.objects.bulk_create(
        Notification(
            organization=organization, user=user, event_type=event_type, content=content,
            sent_subject=subject[:200], sent_message=message, data=data, link=link,
        )
        for user in users
    )  # fmt: skip
    context = {
        "organization": organization,
        "subject": subject,
        "message": message,
        "data": data,
        "url": portal_url(link) if link else "",
    }
    names = [event_type.replace(".", "_"), event_type.split(".")[0], "notification"]
    templates = [f"billing/email/{name}" for name in names]
    for user in users:
        email = render_email(
            templates,
            to=[user.email],
            context={**context, "user": user},
            headers={"X-Token-Portal-Event": event_type},
        )
        send_email_later(email)


def _queue_webhooks(organization, event_type: str, event_id: str, data: dict) -> None:
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.for_org(organization).filter(is_active=True)
        if event_type in endpoint.event_types
    ]
    if not endpoints:
        return
    payload = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint, event_id=event_id, event_type=event_type, payload=payload,
            next_attempt_at=timezone.now(),
        )
        for endpoint in endpoints
    )  # fmt: skip
    webhooks.send_after_commit([delivery.public_id for delivery in deliveries])


def unread_count(user, organization) -> int:
    return Notification.objects.for_org(organization).filter(user=user, read_at=None).count()


def mark_read(*, user, organization, public_ids: list[str] | None = None) -> int:
    """Mark the user's notifications read (all of them when `public_ids` is None)."""
    unread = Notification.objects.for_org(organization).filter(user=user, read_at=None)
    if public_ids is not None:
        unread = unread.filter(public_id__in=public_ids)
    return unread.update(read_at=timezone.now())


def notification_context(request):
    """Template context: the bell's unread count, one query, only when a page shows it."""

    def count():
        if not request.user.is_authenticated:
            return 0
        membership = current_membership(request)
        return unread_count(request.user, membership.organization) if membership else 0

    return {"unread_notifications": SimpleLazyObject(count)}
