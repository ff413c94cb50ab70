"""The console layout (templates/base.html, templates/portal/_sidenav.html): the side navigation
shows each area only to a role that may use it, marks the current page, and pages name their
place in breadcrumbs; signed-out pages keep the simple top bar."""

import re

import pytest
from django.urls import reverse

from accounts.permissions import Action, Role, role_allows
from billing.invoicing.models import Invoice
from tests.factories import (
    ApiKeyFactory,
    InvoiceFactory,
    LedgerEntryFactory,
    ProjectFactory,
    UsageEventFactory,
    VerifiedUserFactory,
)

pytestmark = pytest.mark.django_db


def sidenav_links(client, path="/") -> set[str]:
    page = client.get(path).content.decode()
    nav = re.search(r'<aside id="sidenav".*?</aside>', page, re.S).group(0)
    return set(re.findall(r'href="([^"]+)"', nav))


EVERYONE = {"/", "/usage/", "/projects/", "/organization/quotas/", "/notifications/",
            "/organization/members/", "/organization/departments/", "/models/"}  # fmt: skip
OWNER_ONLY = {"/billing/", "/organization/audit/", "/organization/settings/",
              "/organization/model-policies/", "/organization/webhooks/",
              "/organization/invitations/", "/organization/exports/"}  # fmt: skip


def test_an_owner_finds_every_area(owner, client_of):
    assert sidenav_links(client_of(owner)) >= EVERYONE | OWNER_ONLY


def test_a_developer_sees_only_what_the_role_may_use(member, client_of):
    links = sidenav_links(client_of(member(Role.DEVELOPER)))
    assert links >= EVERYONE
    assert not links & OWNER_ONLY


def test_billing_sees_billing_but_not_the_audit_log(member, client_of):
    links = sidenav_links(client_of(member(Role.BILLING)))
    assert "/billing/" in links
    assert "/organization/audit/" not in links


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize(
    ("path", "action"),
    [("/organization/invitations/", Action.MANAGE_MEMBERS),
     ("/organization/exports/", Action.EXPORT_DATA)],
)  # fmt: skip
def test_invitations_and_data_export_are_linked_for_the_roles_their_pages_allow(
    member, client_of, role, path, action
):
    client = client_of(member(role))
    assert (path in sidenav_links(client)) == role_allows(role, action)
    assert (client.get(path).status_code == 200) == role_allows(role, action)


def test_the_current_page_is_marked(owner, client_of):
    page = client_of(owner).get("/organization/members/").content.decode()
    assert '<a href="/organization/members/" aria-current="page">' in page


def test_a_page_shows_its_breadcrumbs_under_the_overview(owner, client_of):
    project = ProjectFactory(organization=owner.organization, name="Chatbot")
    path = reverse("projects:detail", kwargs={"project": project.public_id})
    page = client_of(owner).get(path).content.decode()
    crumbs = re.search(r'<nav class="breadcrumbs".*?</nav>', page, re.S).group(0)
    assert re.findall(r"<li>.*?</li>|<li aria-current.*?</li>", crumbs, re.S) == [
        '<li><a href="/">Overview</a></li>',
        '<li><a href="/projects/">Projects</a></li>',
        '<li aria-current="page">Chatbot</li>',
    ]


def crumbs(page: str) -> list[tuple[str, str]]:
    """The page's breadcrumbs as (link, text); the current page's link is ""."""
    nav = re.search(r'<nav class="breadcrumbs".*?</nav>', page, re.S).group(0)
    items = re.findall(r"<li[^>]*>(.*?)</li>", nav, re.S)
    return [
        (link.group(1), link.group(2)) if (link := re.fullmatch(r'<a href="([^"]*)">(.*)</a>', i))
        else ("", i)
        for i in items
    ]  # fmt: skip


def test_the_billing_page_is_a_breadcrumb_under_the_overview(owner, client_of):
    page = client_of(owner).get("/billing/").content.decode()
    assert crumbs(page) == [("/", "Overview"), ("", "Billing")]
    assert '<li aria-current="page">Billing</li>' in page


def optional_columns(page: str) -> list[list[str]]:
    """Each table's headers hidden on phones (class col-optional); every row of the table
    must hide the cells of the same columns."""
    tables = []
    for table in re.findall(r"<table.*?</table>", page, re.S):
        header = re.search(r"<thead>.*?</thead>", table, re.S).group(0)
        heads = re.findall(r"<th([^>]*)>(.*?)</th>", header, re.S)
        hidden = [i for i, (attributes, _) in enumerate(heads) if "col-optional" in attributes]
        for row in re.findall(
            r"<tr>(.*?)</tr>", re.search(r"<tbody>.*</tbody>", table, re.S)[0], re.S
        ):
            cells = re.findall(r"<td([^>]*)>", row)
            if len(cells) == len(heads):
                assert [i for i, a in enumerate(cells) if "col-optional" in a] == hidden, row
        tables.append([re.sub(r"<[^>]+>", "", heads[i][1]).strip() for i in hidden])
    return tables


def test_phones_hide_the_optional_columns_of_keys_calls_invoices_and_ledger(owner, client_of):
    organization = owner.organization
    key = ApiKeyFactory(project=ProjectFactory(organization=organization, name="Chatbot"))
    UsageEventFactory(api_key=key, status_code=502)
    InvoiceFactory(organization=organization, status=Invoice.Status.ISSUED)
    LedgerEntryFactory(organization=organization)
    client = client_of(owner)
    keys = ["Department", "Creator", "Created", "Expires", "Rate limits"]
    assert optional_columns(client.get("/keys/").content.decode()) == [keys]
    project = client.get(f"/projects/{key.project.public_id}/").content.decode()
    assert optional_columns(project) == [["Prefix", "Created", "Expires"]]
    calls = ["API key", "Project", "Input tokens", "Cached input tokens", "Cache write tokens",
             "Output tokens", "Latency"]  # fmt: skip
    assert optional_columns(client.get("/usage/calls/").content.decode()) == [calls]
    ledger = ["Balance", "Document"]
    billing = client.get("/billing/").content.decode()
    assert optional_columns(billing) == [["Month", "Due"], ledger]
    assert optional_columns(client.get("/billing/ledger/").content.decode()) == [ledger]


def test_signed_out_pages_keep_the_simple_top_bar(client):
    page = client.get("/models/").content.decode()
    assert 'class="topbar"' in page
    assert 'id="sidenav"' not in page
    assert 'class="breadcrumbs"' not in page
    assert 'href="/accounts/login/"' in page


def test_a_member_without_organization_has_no_side_navigation(client_of):
    page = client_of(VerifiedUserFactory()).get("/").content.decode()
    assert 'id="sidenav"' not in page
    assert 'href="/accounts/logout/"' in page
