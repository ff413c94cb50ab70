"""Email leaves the request: pages render a message and a Celery worker delivers it."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string


def render_email(template_prefix: str, *, to: list[str], context: dict) -> EmailMultiAlternatives:
    """Render the triad `<prefix>_subject.txt`, `<prefix>_message.txt`, `<prefix>_message.html`."""
    subject = render_to_string(f"{template_prefix}_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"{template_prefix}_message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(
        render_to_string(f"{template_prefix}_message.html", context), "text/html"
    )
    return message


def send_email_later(message: EmailMultiAlternatives) -> None:
    """Deliver `message` from a worker once the surrounding transaction commits."""
    from portal.tasks import deliver_email

    payload = {
        "subject": str(message.subject),
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": list(message.reply_to),
        "headers": dict(message.extra_headers),
        "alternatives": [
            [content, mimetype] for content, mimetype in getattr(message, "alternatives", [])
        ],
    }
    transaction.on_commit(lambda: deliver_email.delay(payload))


def build_email(payload: dict) -> EmailMultiAlternatives:
    alternatives = payload.pop("alternatives", [])
    message = EmailMultiAlternatives(**payload)
    for content, mimetype in alternatives:
        message.attach_alternative(content, mimetype)
    return message
