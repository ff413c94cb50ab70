"""Deeply nested JSON (issue 20, finding 4): Python's parser recursed once per level and
raised RecursionError, a 500 before authentication, on the relay, allauth's headless API,
the REST API and the gateway endpoints. Each surface now measures the nesting first
(portal.json_input) and answers 400 in its own error shape; a stranger learns only that
their credential is wrong."""

import json

import pytest
from django.test import Client

from accounts.permissions import Role
from portal import json_input
from portal.middleware import InputGuardMiddleware
from projects.models import GatewayCredential
from relay.contract import AuthorizeView
from tests.accounts.signin import PASSWORD, verified_user
from tests.factories import MembershipFactory, VerifiedUserFactory

pytestmark = pytest.mark.usefixtures("empty_cache")

DEEP = 10_000
ATTACKS = {
    "arrays": "[" * 100_000,
    "objects": '{"a":' * DEEP + "1" + "}" * DEEP,
    "inside a body": '{"model": "m", "messages": ' + "[" * DEEP + "]" * DEEP + "}",
    "small": "[" * 2000,  # within every route's size limit, and beyond Python's recursion
}
HEADLESS = ["/auth/login", "/auth/signup", "/auth/password/request"]
FORM = "application/x-www-form-urlencoded"


def refused(attack: str, limit: int) -> int:
    """What a route with this size limit answers: too large before too deep."""
    return 413 if len(attack) > limit else 400


def test_depth_counts_brackets_outside_strings_only():
    assert json_input.depth(b'{"a": [1, {"b": "[[[{{{"}], "c": "\\"[["}') == 3
    assert json_input.depth(b"[" * 100_000) == 100_000
    assert json_input.loads(b"[" * 32 + b"]" * 32) is not None
    with pytest.raises(json_input.InvalidJson):
        json_input.loads(b"[" * 33 + b"]" * 33)


@pytest.mark.django_db
@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_the_rest_api_answers_400_in_its_own_shape(attack):
    owner = MembershipFactory(role=Role.OWNER, user=VerifiedUserFactory())
    client = Client()
    client.force_login(owner.user)
    for method, path in [("patch", "/api/v1/me"), ("post", "/api/v1/projects/")]:
        response = getattr(client, method)(path, attack, content_type="application/json")
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
def test_the_rest_api_checks_who_calls_before_it_reads_the_body():
    response = Client().post(
        "/api/v1/projects/", ATTACKS["arrays"], content_type="application/json"
    )
    assert response.status_code in (401, 403)


@pytest.mark.django_db
@pytest.mark.parametrize("client_kind", ["app", "browser"])
@pytest.mark.parametrize("endpoint", HEADLESS)
@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_allauth_headless_answers_400_in_its_own_shape(client_kind, endpoint, attack):
    response = Client().post(
        f"/_allauth/{client_kind}/v1{endpoint}", attack, content_type="application/json"
    )
    expected = refused(attack, InputGuardMiddleware.HEADLESS_MAX_BYTES)
    assert response.status_code == expected
    body = response.json()
    assert body["status"] == expected
    assert body["errors"][0]["message"]


@pytest.mark.django_db
def test_allauth_headless_refuses_a_large_body_in_its_own_shape():
    big = json.dumps({"email": "a@example.com", "password": "x" * 100_000})
    response = Client().post("/_allauth/app/v1/auth/login", big, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["status"] == 413


@pytest.mark.django_db
def test_allauth_headless_still_reads_a_plain_body():
    body = json.dumps({"email": "nobody@example.com", "password": "wrong password"})
    response = Client().post("/_allauth/app/v1/auth/login", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] in ("email", "password")


@pytest.mark.django_db
def test_a_json_form_field_nested_too_deeply_is_a_400():
    """allauth's security key forms parse their `credential` field as JSON (a 500 before)."""
    user = verified_user("keys@example.com")
    client = Client()
    client.force_login(user)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    for body in [{"name": "key", "credential": ATTACKS["small"]}, "credential=" + "%5B" * 2000]:
        kwargs = {} if isinstance(body, dict) else {"content_type": FORM}
        response = client.post("/accounts/2fa/webauthn/add/", body, **kwargs)
        assert response.status_code == 400


class TestGateway:
    def post(self, path, body, token=None):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return Client().post(path, body, content_type="application/json", headers=headers)

    @pytest.mark.django_db
    @pytest.mark.parametrize("path", ["/api/v1/gateway/authorize", "/api/v1/gateway/usage"])
    @pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
    def test_a_stranger_gets_401_and_a_gateway_400(self, gateway_token, path, attack):
        stranger = GatewayCredential.token_format.generate()[0]  # well formed, unknown
        for token in [None, stranger]:
            assert self.post(path, attack, token).status_code == 401
        response = self.post(path, attack, gateway_token)
        if path.endswith("usage"):  # the contract's own error list
            assert response.status_code == 400
            [error] = response.json()["errors"]
            assert (error["index"], error["field"]) == (None, "")
            return
        assert response.status_code == refused(attack, AuthorizeView.max_body_bytes)
        code = {400: "parse_error", 413: "request_too_large"}[response.status_code]
        assert response.json()["error"]["code"] == code

    @pytest.mark.django_db
    def test_authorize_takes_a_small_body_only(self, gateway_token):
        body = json.dumps({"api_key": "x", "model": "m", "client_ip": "1.2.3.4", "pad": "x" * 5000})
        response = self.post("/api/v1/gateway/authorize", body, gateway_token)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"
