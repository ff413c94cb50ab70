import pytest

pytestmark = pytest.mark.django_db


def test_home_page_renders_with_navigation_and_language_switcher(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'action="/i18n/setlang/"' in response.content
    assert b'href="/accounts/login/"' in response.content


def test_login_page_renders_inside_the_portal_layout(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="login"' in response.content
    assert b'class="topbar"' in response.content


def test_home_page_speaks_chinese_when_asked(client):
    response = client.get("/", headers={"accept-language": "zh-hans"})
    assert response.status_code == 200
    assert "登录".encode() in response.content


def test_admin_login_leads_to_the_portal_sign_in(client):
    response = client.get("/admin/login/", follow=True)
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_favicon_leads_to_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)
