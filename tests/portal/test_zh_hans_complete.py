"""Chinese readers see no English of ours: every console page of a seeded organization and
every email and notification kind, rendered in zh-Hans, holds no text that is an English
message id of our catalog (locale/zh_Hans/LC_MESSAGES/django.po) left untranslated.

Skipped: ids translated to themselves (names such as "API", "Token Portal"), ids shorter than
four characters or without a letter, and ids with placeholders (they never equal a rendered
text). Text nodes and the attributes people read (placeholder, title, aria-label, alt, value of
buttons) are compared whole, whitespace collapsed.
"""

import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import allauth
import pytest
from allauth.account.adapter import get_adapter
from django.conf import settings
from django.test import Client
from django.utils import translation

from accounts.audit_trail import Actor
from billing.quotas import services as quotas
from notifications.models import Notification
from portal.mail import render_email
from tests.test_isolation import ROUTES, SHARED_KWARGS
from tests.test_isolation import world as world  # the seeded organization A

pytestmark = pytest.mark.django_db
CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
READ_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}
SKIPPED_TAGS = {"script", "style", "code", "pre", "kbd", "samp"}
# The language switcher names each language in that language ("English" on a Chinese page).
with translation.override("en"):
    LANGUAGE_NAMES = {str(name) for _code, name in settings.LANGUAGES}


def catalog_english() -> set[str]:
    """The msgids of our catalog whose zh-Hans text differs from them."""
    english = set()
    entry = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$')
    fields, key = {}, None
    for line in [*CATALOG.read_text().splitlines(), ""]:
        match = entry.match(line)
        if match:
            key = match.group(1)
            fields[key] = fields.get(key, "") + match.group(2)
        elif line.startswith('"') and key:
            fields[key] += line[1:-1]
        elif not line.strip():
            msgid = fields.get("msgid", "").replace('\\"', '"')
            translated = fields.get("msgstr", fields.get("msgstr[0]", ""))
            if msgid and translated and translated != msgid and readable(msgid):
                english.add(msgid)
            fields, key = {}, None
    return english - LANGUAGE_NAMES


def readable(msgid: str) -> bool:
    placeholder = re.search(r"%\(\w+\)|%s|%d|\{\w*\}", msgid)
    return len(msgid) >= 4 and re.search("[A-Za-z]{3}", msgid) and not placeholder


class Texts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_TAGS:
            self.skipping += 1
        button = tag == "input" and dict(attrs).get("type") in {"submit", "button", "reset"}
        for name, value in attrs:
            if value and (name in READ_ATTRIBUTES or (button and name == "value")):
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in SKIPPED_TAGS and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.found.append(data)


def english_in(text: str, english: set[str], *, html: bool) -> set[str]:
    if html:
        parser = Texts()
        parser.feed(text)
        pieces = parser.found
    else:
        pieces = text.splitlines()
    return {" ".join(p.split()) for p in pieces} & english


def console_urls(world):
    """GET pages of ours with their URL kwargs filled from organization A."""
    for url_format, params, ours, namespace, _name in ROUTES:
        if not ours or url_format.startswith("api/") or "api" in namespace:
            continue
        if any(p not in world.values and p not in SHARED_KWARGS for p in params):
            continue
        values = {
            p: world.values[p] if p in world.values else SHARED_KWARGS[p](world.a) for p in params
        }
        yield "/" + url_format % values


def test_every_console_page_in_chinese_has_no_english_of_ours(world):
    english = catalog_english()
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(world.a.owner.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    found, pages = {}, 0
    for url in sorted(set(console_urls(world))):
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        left = english_in(response.content.decode(), english, html=True)
        if left:
            found[url] = sorted(left)
    assert pages >= 30, "the walk should reach the console's pages"
    assert found == {}


EMAILS = {
    "billing/email/announcement": {"message": "x", "subject": "x"},
    "billing/email/notification": {"message": "x", "subject": "x", "url": "http://127.0.0.1/"},
    "billing/email/quota": {
        "message": "x", "subject": "x", "url": "http://127.0.0.1/",
        "data": {"metric": "tokens", "limit": "1000", "consumed": "800", "threshold": 80},
    },
    "accounts/email/invitation": {"url": "http://127.0.0.1/", "role": "viewer"},
    "accounts/email/organization_status": {"status": "active", "reason": ""},
}  # fmt: skip


def test_every_email_and_notification_in_chinese_has_no_english_of_ours(world):
    english = catalog_english()
    a = world.a
    found = {}
    for prefix, context in EMAILS.items():
        message = render_email(
            prefix, to=["someone@example.invalid"], language="zh-hans",
            context={"organization": a.organization, "user": a.owner.user,
                     "invitation": a.invitation, **context},
        )  # fmt: skip
        left = english_in(message.subject, english, html=False)
        left |= english_in(message.body, english, html=False)
        left |= english_in(message.alternatives[0][0], english, html=True)
        assert "[Token Portal]" not in message.subject
        if left:
            found[prefix] = sorted(left)
    quotas.decide_increase(actor=Actor(user=a.owner.user, membership=a.owner),
                           increase=a.increase, approve=True)  # fmt: skip
    kinds = set(Notification.objects.values_list("event_type", flat=True))
    assert {"quota_request.created", "quota_request.approved", "export.ready"} <= kinds
    with translation.override("zh-hans"):
        for notification in Notification.objects.all():
            left = {notification.subject, notification.message} & english
            if left:
                found[notification.event_type] = sorted(left)
    assert found == {}


ALLAUTH_EMAILS = [
    f"{app}/email/{path.name.removesuffix('_subject.txt')}"
    for app in ("account", "mfa")
    for path in (Path(allauth.__file__).parent / "templates" / app / "email").glob("*_subject.txt")
]


def test_allauths_emails_in_chinese_have_no_english_subject(world):
    """Sign-up, sign-in code, password and security emails: their subjects (with our
    "[Token Portal] " prefix) are Chinese; only the product's name stays Latin."""
    adapter = get_adapter()
    english = {}
    for prefix in ALLAUTH_EMAILS:
        context = {"user": world.a.owner.user, "code": "ABC123", "email": "x@example.invalid",
                   "activate_url": "http://127.0.0.1/", "password_reset_url": "http://127.0.0.1/",
                   "current_site": SimpleNamespace(name="Token Portal", domain="127.0.0.1"),
                   "from_email": "x@example.invalid", "to_email": "x@example.invalid"}  # fmt: skip
        with translation.override("zh-hans"):
            message = adapter.render_mail(prefix, "x@example.invalid", context)
        words = set(re.findall("[A-Za-z]{3,}", message.subject)) - {"Token"}
        if words:
            english[prefix] = message.subject
    assert len(ALLAUTH_EMAILS) >= 15
    assert english == {}
