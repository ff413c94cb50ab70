"""Malformed input, tried as an attacker would (issue 20, finding 3): a NUL byte or an
over-long id in a path, a query string or a body is a 404 or a 400, never a 500 (PostgreSQL
refuses NUL in text; psycopg raised and the portal answered 500).

Every route comes from the URL resolver (tests/test_isolation.py's walk), so a route added
later is tried too. Run on SQLite and PostgreSQL (`make test` runs both)."""

import json

import pytest
from django.test import Client

from accounts.permissions import Role
from billing.catalog.models import ModelPolicy
from billing.metering.models import UsageEvent
from portal import ids
from tests.factories import CatalogModelFactory, MembershipFactory, VerifiedUserFactory
from tests.test_isolation import ROUTES, SHARED_KWARGS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

NUL = "x\x00"
BAD_IDS = {
    "nul": NUL,
    "long": "prj_" + "a" * 5000,
    "other alphabet": "prj_AAAAAAAAAAAAAAAA",
}
WELL_FORMED = "prj_aaaaaaaaaaaaaaaa"  # names nothing
NOT_IDS = {"fmt", "year", "month", "verdict"}  # fixed words and numbers, not ids
ROUTES_WITH_IDS = [
    (url_format, params) for url_format, params, *_ in ROUTES if set(params) - NOT_IDS
]


@pytest.fixture
def owner_client(db):
    """A signed-in owner: every lookup the route makes is reached."""
    owner = MembershipFactory(role=Role.OWNER, user=VerifiedUserFactory())
    client = Client(raise_request_exception=False)
    client.force_login(owner.user)
    return client


def fill(url_format, params, bad_param, bad_value) -> str:
    values = {}
    for param in params:
        if param == bad_param:
            values[param] = bad_value
        elif param in NOT_IDS:
            values[param] = SHARED_KWARGS[param](None)
        else:
            values[param] = WELL_FORMED
    return "/" + url_format % values


@pytest.mark.parametrize(("url_format", "params"), ROUTES_WITH_IDS, ids=lambda v: str(v))
def test_no_route_answers_500_to_a_malformed_id(owner_client, url_format, params):
    for param in sorted(set(params) - NOT_IDS):
        for label, bad in BAD_IDS.items():
            path = fill(url_format, params, param, bad)
            for method in ("get", "post", "delete"):
                response = getattr(owner_client, method)(path)
                assert response.status_code < 500, f"{method.upper()} {path[:80]!r} ({label})"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/x%00",
        "/models/x%00/",
        "/api/v1/projects/prj_aaaaaaaaaaaaaaa%00",
        "/api/v1/invoices/" + "a" * 5000,
        "/organization/quotas/quo_" + "a" * 300 + "/",
    ],
)
def test_a_path_that_cannot_name_an_object_is_a_404(owner_client, path):
    assert owner_client.get(path).status_code == 404


def test_ids_are_a_prefix_and_sixteen_base32_characters():
    made = ids.new_public_id("mpol")
    assert ids.is_public_id(made)
    for bad in ["", "prj", "prj_" + "a" * 15, "prj_" + "a" * 17, "PRJ_aaaaaaaaaaaaaaaa",
                "prj_aaaaaaaaaaaaaaa1", "prj_aaaaaaaaaaaaaaa\x00", "abcde_aaaaaaaaaaaaaaaa",
                None]:  # fmt: skip
        assert not ids.is_public_id(bad), bad
    assert ids.is_model_id("openai/gpt-4o:extended")
    for bad in ["", "a b", "x\x00", "é", "m" * 151, 7]:
        assert not ids.is_model_id(bad), bad


@pytest.mark.parametrize("route", [r for r in ROUTES if "%" not in r[0]], ids=lambda r: r[0])
def test_a_nul_in_the_query_string_is_a_400_on_every_route(owner_client, route):
    path = "/" + route[0]
    response = owner_client.get(path + "?q=%00&page=1")
    assert response.status_code == 400, path
    response = owner_client.get(path + "?a%00b=1")
    assert response.status_code == 400, path


def test_the_api_answers_a_nul_in_its_own_error_shape(owner_client):
    response = owner_client.get("/api/v1/projects/?name=%00")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_nul_in_a_form_body_is_a_400(owner_client):
    form = "application/x-www-form-urlencoded"
    response = owner_client.post("/projects/new/", "name=x%00", content_type=form)
    assert response.status_code == 400
    # Multipart too: a page's choice of an object by id (ModelChoiceField) would query it.
    response = owner_client.post("/organization/quotas/new/", {"department": NUL})
    assert response.status_code == 400


def test_a_nul_in_a_json_body_is_a_400_and_changes_nothing(owner_client):
    response = owner_client.patch(
        "/api/v1/me", '{"full_name": "a\\u0000b"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    # An escaped backslash before u0000 is text, not a NUL.
    response = owner_client.patch(
        "/api/v1/me", '{"full_name": "a\\\\u0000b"}', content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "a\\u0000b"


def test_an_organization_header_that_is_no_id_selects_no_organization(owner_client):
    for header in [NUL, "org_" + "a" * 1000]:
        response = owner_client.get("/api/v1/projects/", headers={"x-organization": header})
        assert response.status_code == 404


class TestModelPolicies:
    """POST /api/v1/model-policies names models and departments by id."""

    @pytest.fixture
    def policies(self, owner_client):
        CatalogModelFactory(model_id="deepseek/deepseek-chat")
        return owner_client

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("models", ["m" * 151]),
            ("models", ["a b"]),
            ("department", "dep_" + "a" * 500),
            ("department", "dep_AAAAAAAAAAAAAAAA"),
        ],
    )
    def test_an_id_outside_the_grammar_is_a_field_error(self, policies, field, value):
        body = {"mode": "deny", field: value}
        response = policies.post("/api/v1/model-policies", body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert field in response.json()["error"]["fields"]
        assert not ModelPolicy.objects.exists()

    def test_a_nul_in_a_multipart_field_is_a_400(self, policies):
        response = policies.post("/api/v1/model-policies", {"mode": "deny", "models": [NUL]})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"
        assert not ModelPolicy.objects.exists()

    def test_a_nul_in_json_is_refused_before_any_field(self, policies):
        body = '{"mode": "deny", "models": ["x\\u0000"]}'
        response = policies.post("/api/v1/model-policies", body, content_type="application/json")
        assert response.status_code == 400
        assert not ModelPolicy.objects.exists()


class TestGatewayUsage:
    """The gateway's usage batch names a key and a model per event."""

    def post(self, gateway_token, events):
        return Client().post(
            "/api/v1/gateway/usage", json.dumps({"events": events}),
            content_type="application/json", headers={"authorization": f"Bearer {gateway_token}"},
        )  # fmt: skip

    def event(self, **fields):
        return {
            "request_id": "req-1", "key_id": WELL_FORMED, "model": "deepseek/deepseek-chat",
            "input_tokens": 1, "output_tokens": 1, "occurred_at": "2026-12-01T00:00:00+00:00",
            **fields,
        }  # fmt: skip

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("key_id", "key_" + "a" * 300),
            ("key_id", "key aaaaaaaaaaaaaaaa"),
            ("model", "m" * 151),
            ("model", "a\tb"),
        ],
    )
    def test_an_id_outside_the_grammar_is_a_field_error(self, gateway_token, field, value):
        response = self.post(gateway_token, [self.event(**{field: value})])
        assert response.status_code == 400
        assert {"index": 0, "field": field} in [
            {"index": e["index"], "field": e["field"]} for e in response.json()["errors"]
        ]
        assert not UsageEvent.objects.exists()

    def test_a_nul_in_an_id_is_a_400(self, gateway_token):
        for field in ("key_id", "model"):
            body = json.dumps({"events": [self.event(**{field: NUL})]})
            response = Client().post(
                "/api/v1/gateway/usage", body, content_type="application/json",
                headers={"authorization": f"Bearer {gateway_token}"},
            )  # fmt: skip
            assert response.status_code == 400
        assert not UsageEvent.objects.exists()
