"""Email leaves the request: pages render a message and a Celery worker delivers it."""

from django.core.mail import EmailMultiAlternatives
from django.db import transaction


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
