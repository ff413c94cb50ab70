"""Email: every message is rendered from a template triad (render_email) and leaves the
request or transaction for a Celery worker (send_email_later, delivered by build_email)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template import Context
from django.template.loader import select_template
from django.utils import translation


def render_email(
    template_prefix: str | list[str],
    *,
    to: list[str],
    context: dict,
    language: str | None = None,
    headers: dict | None = None,
) -> EmailMultiAlternatives:
    """The message of the triad `<prefix>_subject.txt`, `<prefix>_message.txt`,
    `<prefix>_message.html` (given several prefixes, each part comes from the first that
    has it), rendered in `language`, the reader's (None: the active language)."""
    prefixes = [template_prefix] if isinstance(template_prefix, str) else template_prefix

    def render(part: str, *, plain: bool) -> str:
        template = select_template([prefix + part for prefix in prefixes]).template
        # Plain text is not HTML: "R&D" stays "R&D" in the subject and the text body.
        return template.render(Context(context, autoescape=not plain))

    with translation.override(language or translation.get_language()):
        subject = render("_subject.txt", plain=True)
        text = render("_message.txt", plain=True)
        html = render("_message.html", plain=False)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    return message


def portal_url(path: str) -> str:
    """An absolute link for a message read outside the portal (PORTAL_BASE_URL + path)."""
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}{path}"


def send_email_later(message: EmailMultiAlternatives) -> None:
    """Deliver `message` from a worker once the surrounding transaction commits."""
    from portal.tasks import deliver_email  # tasks import this module

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
    """The message send_email_later put in `payload`, for the worker to send."""
    alternatives = payload.pop("alternatives", [])
    message = EmailMultiAlternatives(**payload)
    for content, mimetype in alternatives:
        message.attach_alternative(content, mimetype)
    return message
