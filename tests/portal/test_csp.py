"""Content Security Policy: every page sends it, and no page needs what it forbids.

A crawler signs in (a customer owner, then staff), follows every link from the start pages and
visits at most two URLs per route; each HTML answer must carry the policy and contain no inline
script, event handler attribute, style attribute, <style> element or javascript: URL.
"""

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

from tests.billing.metering_world import build_world

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}
# Pages that sign out, switch, or answer with files: not followed.
SKIP_PREFIXES = ("/accounts/logout/", "/i18n/", "/static/", "/admin/logout/", "/hijack/")
PER_ROUTE = 2
EXECUTABLE_TYPES = {"", "text/javascript", "module", "application/javascript"}


class InlineFinder(HTMLParser):
    """Collects links and everything inline that the policy would refuse."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.problems: list[str] = []
        self._script_without_src = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name == "style":
                self.problems.append(f"<{tag} style={value!r}>")
            if name in {"href", "src", "action"} and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            executable = (attributes.get("type") or "").lower() in EXECUTABLE_TYPES
            self._script_without_src = executable and not attributes.get("src")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])

    def handle_data(self, data):
        if self._script_without_src and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_without_src = False


def route_of(path: str) -> str | None:
    try:
        return resolve(path).route
    except Resolver404:
        return None


def crawl(client, start: list[str]) -> dict[str, list[str]]:
    """{url: problems} for every HTML page reached; fails on a page without the policy."""
    queue, seen, per_route, found = list(start), set(), {}, {}
    while queue:
        url = queue.pop(0)
        path = urlsplit(url).path
        route = route_of(path)
        if url in seen or route is None or path.startswith(SKIP_PREFIXES):
            continue
        seen.add(url)
        if per_route.get(route, 0) >= PER_ROUTE:
            continue
        per_route[route] = per_route.get(route, 0) + 1
        response = client.get(url)
        if not response["Content-Type"].startswith("text/html") or response.status_code >= 300:
            continue
        directives = {d.strip() for d in response["Content-Security-Policy"].split(";")}
        assert directives >= POLICY, (url, response["Content-Security-Policy"])
        page = InlineFinder()
        page.feed(response.content.decode())
        found[url] = page.problems
        for link in page.links:
            target = urlsplit(urljoin(url, link))
            if not target.netloc or target.netloc == "testserver":
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return found


def assert_clean(found: dict[str, list[str]], at_least: int):
    assert len(found) >= at_least, sorted(found)
    assert {url: problems for url, problems in found.items() if problems} == {}


def test_public_pages_are_clean(client):
    build_world()
    start = ["/", "/models/", "/accounts/login/", "/accounts/signup/",
             "/accounts/password/reset/", "/api/docs/", "/_allauth/openapi.html"]  # fmt: skip
    found = crawl(client, start)
    assert_clean(found, at_least=6)


def test_a_member_s_pages_are_clean(client):
    world = build_world()
    client.force_login(world.members["owner"].user)
    start = ["/", "/usage/", "/billing/", "/organization/", "/accounts/email/",
             "/accounts/email/change/", "/accounts/2fa/", "/accounts/sessions/"]  # fmt: skip
    found = crawl(client, start)
    assert_clean(found, at_least=20)


def test_the_staff_console_is_clean(client, staff_user):
    build_world()
    found = crawl(client, ["/admin/"])
    assert_clean(found, at_least=20)


def test_the_api_docs_use_local_files_only(client):
    for url in ("/api/docs/", "/_allauth/openapi.html"):
        page = client.get(url).content.decode()
        assert "http://" not in page and "https://" not in page, url
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


def test_report_only_is_a_switch():
    from tests.portal.test_settings import run

    result = run(
        "from django.conf import settings; "
        "print(hasattr(settings, 'CONTENT_SECURITY_POLICY'), "
        "settings.CONTENT_SECURITY_POLICY_REPORT_ONLY['DIRECTIVES']['script-src'])",
        CSP_REPORT_ONLY="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "[\"'self'\"]"]
