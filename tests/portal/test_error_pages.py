"""Branded 403, 404 and 500 pages (templates/403.html, 404.html, 500.html), as production
serves them (DEBUG off): translated, with a way back; the 500 page needs neither the request
nor the database."""

import pytest
from django.test import RequestFactory
from django.utils import translation
from django.views import defaults

from accounts.permissions import Role


@pytest.fixture(autouse=True)
def production_errors(settings):
    settings.DEBUG = False


@pytest.mark.django_db
def test_an_unknown_address_is_a_branded_404_with_the_way_back(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Page not found</h1>" in page
    assert 'class="topbar"' in page
    assert 'href="/accounts/login/"' in page


@pytest.mark.django_db
def test_a_member_gets_the_404_inside_the_console(owner, client_of):
    response = client_of(owner).get("/projects/prj_doesnotexist00/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'id="sidenav"' in page
    assert "Go to the overview" in page


@pytest.mark.django_db
def test_the_404_speaks_chinese(client):
    response = client.get("/no-such-page/", headers={"accept-language": "zh-hans"})
    assert response.status_code == 404
    with translation.override("zh-hans"):
        assert translation.gettext("Page not found") in response.content.decode()


@pytest.mark.django_db
def test_a_role_without_the_right_gets_a_branded_403(member, client_of):
    response = client_of(member(Role.DEVELOPER)).get("/organization/audit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>Not allowed</h1>" in page
    assert 'id="sidenav"' in page


def test_the_500_page_renders_without_request_or_database():
    # No django_db mark: any query would fail the test.
    request = RequestFactory().get("/")
    response = defaults.server_error(request)
    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Something went wrong</h1>" in page
    assert 'href="/static/vendor/pico.min.css"' in page or "pico" in page
    assert 'href="/"' in page


def test_the_500_page_is_translated():
    with translation.override("zh-hans"):
        response = defaults.server_error(RequestFactory().get("/"))
        assert translation.gettext("Something went wrong") in response.content.decode()
