"""Step helpers of the browser tests: a page that fails the test on any console error or
failed request, a screenshot per step, the axe-core accessibility check and the phone-width
check. Playwright drives Debian's Chromium (/usr/bin/chromium); it never downloads one."""

import re
from pathlib import Path

from django.conf import settings
from django.utils import translation
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1366, "height": 900}
MODEL = "deepseek/deepseek-chat"
PASSWORD = "correct horse battery"  # tests.factories' password of every user
CHINESE = re.compile(r"[\u4e00-\u9fff]")
# axe-core impacts that fail a page (moderate and minor ones are reported, not fatal).
BLOCKING_IMPACTS = {"serious", "critical"}


def folder_for(test_name: str) -> Path:
    """$VAR_DIR/e2e-screenshots/<test name>/, emptied (screenshots of an earlier run go): the
    test artifacts stay beside the run's other files, out of the source tree."""
    folder = settings.VAR_DIR / "e2e-screenshots" / re.sub(r"[^\w.-]+", "_", test_name).strip("_")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


class Journey:
    """One browser page of one user. Every problem the browser reports (a console error, an
    uncaught exception, a failed request, a response >= 400 that is not listed in
    `expected_statuses` as (url regex, status)) fails the next step()."""

    def __init__(self, page: Page, folder: Path, language="en", counter=None, audit=False):
        self.page = page
        self.audit = audit
        self.folder = folder
        self.language = language
        self.counter = counter if counter is not None else [0]
        self.problems: list[str] = []
        self.expected: list[tuple[str, int | str]] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    # --- what the browser reports ----------------------------------------------------------

    def expect_failure(self, url_pattern: str, status: int | str):
        """Allow one kind of failure: an HTTP status, or a network error text (a download
        ends its navigation with net::ERR_ABORTED)."""
        self.expected.append((url_pattern, status))

    def _is_expected(self, url: str, status) -> bool:
        return any(re.search(p, url) and s == status for p, s in self.expected)

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location})")

    def _request_failed(self, request):
        if not self._is_expected(request.url, request.failure):
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response):
        if response.status >= 400 and not self._is_expected(response.url, response.status):
            self.problems.append(
                f"HTTP {response.status}: {response.request.method} {response.url}"
            )

    def assert_no_problems(self):
        problems, self.problems = self.problems, []
        assert not problems, "the browser reported:\n" + "\n".join(problems)

    # --- steps -----------------------------------------------------------------------------

    def t(self, message: str, names_a_brand: bool = False) -> str:
        """`message` as the page shows it in this journey's language (in Chinese, it must
        be translated: a missing translation fails instead of matching the English, unless
        the term stays in Latin letters, as "Webhook" does)."""
        with translation.override(self.language):
            text = translation.gettext(message)
        if self.language.startswith("zh") and not names_a_brand:
            assert CHINESE.search(text), f"no Chinese translation of {message!r}"
        return text

    def assert_in_language(self, text: str):
        """Text made elsewhere (a worker's notification) is in this journey's language."""
        if self.language.startswith("zh"):
            assert CHINESE.search(text), f"not in Chinese: {text!r}"

    def heading(self, message: str):
        """The page's h1 says `message`, translated."""
        expect(self.page.get_by_role("heading", level=1)).to_have_text(self.t(message))

    def step(self, name: str):
        """Screenshot the whole page as NN-name.png; fail on what the browser reported and,
        when the journey audits, on the page's serious and critical axe-core violations."""
        self.counter[0] += 1
        slug = re.sub(r"[^\w-]+", "-", name.lower()).strip("-")
        self.page.screenshot(path=self.folder / f"{self.counter[0]:02d}-{slug}.png", full_page=True)
        self.assert_no_problems()
        if self.audit:
            violations = accessibility_violations(self.page)
            assert not violations, f"{name} ({self.page.url}): {violations}"

    def press(self, label: str):
        """Click the button of the page's main content that says `label` (translated)."""
        self.page.locator("main").get_by_role("button", name=self.t(label), exact=True).click()

    def choose_language(self):
        """Switch to the journey's language with the switcher in the top bar (in the account
        menu once signed in)."""
        select = self.page.locator("#language-select")
        if not select.is_visible():
            self.page.locator(".account-menu summary").click()
        select.select_option(self.language)
        self.page.locator("form.language button[type=submit]").click()
        expect(self.page.locator("html")).to_have_attribute("lang", self.language)

    def goto(self, path: str):
        # Let the current page finish loading first: leaving it mid-load aborts its images,
        # which the browser reports as failed requests of ours.
        self.page.wait_for_load_state("load")
        response = self.page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        return response


def sign_in(visitor: Journey, email: str, password: str = PASSWORD):
    visitor.goto("/accounts/login/")
    visitor.page.locator("input[name=login]").fill(email)
    visitor.page.locator("input[name=password]").fill(password)
    visitor.press("Sign In")


def accessibility_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations of the page (WCAG 2.x A and AA rules and
    axe's best practices), each with the offending elements."""
    # Evaluated through the DevTools protocol, as a test harness should: a <script> tag would
    # be inline code, which the portal's Content Security Policy rightly blocks.
    page.evaluate(AXE.read_text())
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]  # fmt: skip


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def table_overflow(page: Page) -> int:
    """How many CSS pixels the widest table is wider than its scroll frame (0 when all fit)."""
    return page.evaluate(
        "Math.max(0, ...Array.from(document.querySelectorAll('.table-wrap'),"
        " frame => frame.scrollWidth - frame.clientWidth))"
    )
