from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_schema_describes_the_accounts_api(client):
    schema = client.get("/api/schema/", headers={"accept": "application/json"}).json()
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/organization/": {"get", "patch"},
        "/api/v1/members/": {"get"},
        "/api/v1/members/{member}/": {"get", "patch", "delete"},
        "/api/v1/invitations/": {"get", "post"},
        "/api/v1/invitations/{invitation}/resend/": {"post"},
        "/api/v1/invitations/{invitation}/revoke/": {"post"},
        "/api/v1/departments/": {"get", "post"},
        "/api/v1/departments/{department}/": {"get", "patch", "delete"},
        "/api/v1/audit-events/": {"get"},
        "/api/v1/exports/": {"get", "post"},
        "/api/v1/exports/{export}/": {"get"},
        "/api/v1/exports/{export}/download/": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    audit_params = {p["name"] for p in paths["/api/v1/audit-events/"]["get"]["parameters"]}
    assert {"action", "actor", "target_type", "created_after", "created_before"} <= audit_params
    member = schema["components"]["schemas"]["Member"]["properties"]
    assert member["id"]["type"] == "string" and member["department"]["type"] == "string"


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="docs/openapi.yaml is generated on SQLite (make schema): integer field limits "
    "come from the database backend, and PostgreSQL's differ; CI's SQLite pass runs this",
)
def test_the_committed_schema_is_current(tmp_path):
    """docs/openapi.yaml is what clients generate from: `make schema` after an API change."""
    fresh = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(fresh), "--validate")
    committed = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
    assert fresh.read_text() == committed.read_text(), "run `make schema` and commit it"
