"""allauth's headless API for app clients, and its session token on the portal's REST API."""

import pytest
from django.core import mail
from django.test import Client

from accounts.permissions import Role
from tests.accounts.signin import (
    PASSWORD,
    mailed_code,
    sign_in,
    totp_code,
    totp_set_up_earlier,
    verified_user,
)
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

APP = "/_allauth/app/v1"


def post(client, path, data, token=None):
    headers = {"x-session-token": token} if token else {}
    return client.post(f"{APP}{path}", data, content_type="application/json", headers=headers)


def test_an_app_signs_up_verifies_logs_in_and_calls_the_api(django_capture_on_commit_callbacks):
    app = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(app, "/auth/signup", {"email": "dev@example.com", "password": PASSWORD})
    assert response.status_code == 401  # signed up, not yet verified
    body = response.json()
    assert {"id": "verify_email", "is_pending": True} in [
        {"id": flow["id"], "is_pending": flow.get("is_pending", False)}
        for flow in body["data"]["flows"]
    ]
    pending_token = body["meta"]["session_token"]

    [message] = mail.outbox
    response = post(app, "/auth/email/verify", {"key": mailed_code(message)}, pending_token)
    assert response.status_code == 200
    assert response.json()["meta"]["is_authenticated"]

    response = post(Client(), "/auth/login", {"email": "dev@example.com", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["meta"]["session_token"]

    response = Client().get("/api/v1/me", headers={"x-session-token": token})
    assert response.status_code == 200
    assert response.json()["email"] == "dev@example.com"


def test_an_app_with_totp_logs_in_with_a_code():
    secret = totp_set_up_earlier(verified_user("dev@example.com"))
    app = Client()
    response = post(app, "/auth/login", {"email": "dev@example.com", "password": PASSWORD})
    assert response.status_code == 401
    flows = {flow["id"]: flow.get("is_pending") for flow in response.json()["data"]["flows"]}
    assert flows["mfa_authenticate"]
    pending_token = response.json()["meta"]["session_token"]

    response = post(app, "/auth/2fa/authenticate", {"code": totp_code(secret)}, pending_token)

    assert response.status_code == 200
    token = response.json()["meta"]["session_token"]
    response = app.get("/api/v1/me", headers={"x-session-token": token})
    assert response.json()["mfa_enabled"] is True


def test_a_wrong_password_gets_no_token():
    verified_user("dev@example.com")
    response = post(Client(), "/auth/login", {"email": "dev@example.com", "password": "nope"})
    assert response.status_code == 400
    assert "session_token" not in response.json().get("meta", {})


def test_me_describes_the_user_and_only_their_organizations(client, django_assert_num_queries):
    user = verified_user("anna@example.com", full_name="Anna Li")
    org = OrganizationFactory(name="Alpha", require_mfa=False)
    MembershipFactory(organization=org, user=user, role=Role.ADMIN)
    MembershipFactory(organization=OrganizationFactory(name="Elsewhere"))  # someone else's
    sign_in(client, "anna@example.com")

    # session, user, current membership (tenancy middleware check), memberships, MFA
    with django_assert_num_queries(5):
        response = client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "email": "anna@example.com",
        "full_name": "Anna Li",
        "language": "",
        "mfa_enabled": False,
        "organizations": [
            {"public_id": org.public_id, "name": "Alpha", "role": "admin", "require_mfa": False}
        ],
    }


def test_me_refuses_anonymous_callers_and_unknown_tokens(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_authenticated"
    response = client.get("/api/v1/me", headers={"x-session-token": "not-a-token"})
    assert response.status_code == 403


def test_a_token_ends_with_its_session():
    verified_user("dev@example.com")
    app = Client()
    token = post(app, "/auth/login", {"email": "dev@example.com", "password": PASSWORD}).json()[
        "meta"
    ]["session_token"]
    response = app.delete(f"{APP}/auth/session", headers={"x-session-token": token})
    assert response.status_code == 401
    assert app.get("/api/v1/me", headers={"x-session-token": token}).status_code == 403


def test_me_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", headers={"accept": "application/json"}).json()
    assert "/api/v1/me" in schema["paths"]
    assert "XSessionTokenAuth" in schema["components"]["securitySchemes"]


def test_the_headless_api_specification_is_served(client):
    response = client.get("/_allauth/openapi.json")
    assert response.status_code == 200
    assert "/_allauth/{client}/v1/auth/login" in response.json()["paths"]
    assert client.get("/_allauth/openapi.html").status_code == 200


def test_the_headless_api_names_the_user_by_public_id_never_by_primary_key(client):
    user = verified_user("dev@example.com")
    response = post(Client(), "/auth/login", {"email": "dev@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["data"]["user"]["id"] == user.public_id
    assert user.public_id.startswith("usr_")
    schema = client.get("/_allauth/openapi.json").json()
    assert schema["components"]["schemas"]["User"]["properties"]["id"]["type"] == "string"
