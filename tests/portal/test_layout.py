"""The console layout (templates/base.html, templates/portal/_sidenav.html): the side navigation
shows each area only to a role that may use it, marks the current page, and pages name their
place in breadcrumbs; signed-out pages keep the simple top bar."""

import re

import pytest
from django.urls import reverse

from accounts.permissions import Role
from tests.factories import ProjectFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db


def sidenav_links(client, path="/") -> set[str]:
    page = client.get(path).content.decode()
    nav = re.search(r'<aside id="sidenav".*?</aside>', page, re.S).group(0)
    return set(re.findall(r'href="([^"]+)"', nav))


EVERYONE = {"/", "/usage/", "/projects/", "/organization/quotas/", "/notifications/",
            "/organization/members/", "/organization/departments/", "/models/"}  # fmt: skip
OWNER_ONLY = {"/billing/", "/organization/audit/", "/organization/settings/",
              "/organization/model-policies/", "/organization/webhooks/"}  # fmt: skip


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
