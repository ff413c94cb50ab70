"""Every audit action the code records has a translated label (accounts/audit_actions.py),
shown on the audit page, in the CSV and in the API next to the code."""

import re
from pathlib import Path

import pytest
from django.utils import translation

from accounts import mfa
from accounts.audit_actions import ACTION_LABELS, action_label
from accounts.audit_trail import record_audit_event
from billing.invoicing import ledger
from billing.invoicing.models import FapiaoRequest
from billing.quotas.models import QuotaIncreaseRequest
from tests.conftest import ROOT

# Codes built at run time: the f-string as written, and every code it can produce.
DYNAMIC = {
    'f"organization.{status}"': ["organization.active", "organization.suspended"],
    'f"quota_request.{status}"': [
        f"quota_request.{s}" for s in QuotaIncreaseRequest.Status.values if s != "pending"
    ],
    'f"billing.fapiao_{fapiao_request.status}"': [
        f"billing.fapiao_{s}" for s in FapiaoRequest.Status.values if s != "requested"
    ],
    'f"admin.{obj._meta.model_name}_{verb}"': [],  # labelled from the model's name
}
APPS = ("accounts", "billing", "exports", "notifications", "portal", "projects", "relay")
CODE = re.compile(r'"([a-z_]+\.[a-z_]+)"')
AUDITING = re.compile(r"\baction=(.+)|\b_audit\((\"[^\"]+\")")


def recorded_actions() -> tuple[set[str], set[str]]:
    """(literal codes, f-string expressions) passed as an audit action in the source."""
    literals, formatted = set(), set()
    for folder in APPS:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for match in AUDITING.finditer(Path(path).read_text()):
                expression = (match.group(1) or match.group(2)).strip().rstrip(",")
                formatted |= set(re.findall(r'\bf"[^"]*"', expression))
                literals |= set(CODE.findall(expression))
    literals |= set(mfa.ACTIONS.values())  # chosen from a table by signal and factor
    literals |= set(ledger.MONEY_ACTIONS.values())  # chosen by the ledger entry's kind
    return literals, formatted


def test_every_recorded_action_has_a_label():
    literals, formatted = recorded_actions()
    assert "project.updated" in literals and "support.view_as_started" in literals
    assert formatted == set(DYNAMIC), "a new computed action: list its codes in DYNAMIC"
    codes = literals | {code for codes in DYNAMIC.values() for code in codes}
    assert sorted(codes - set(ACTION_LABELS)) == []
    assert sorted(set(ACTION_LABELS) - codes) == []  # no label for a code never recorded


def test_labels_are_translated_and_staff_console_codes_name_the_model():
    with translation.override("zh-hans"):
        assert str(action_label("project.updated")) == "项目已更改"
        assert "项目" in str(action_label("admin.project_changed"))
    assert str(action_label("admin.project_changed")) == "Staff console: project changed"
    assert action_label("something.unknown") == "something.unknown"


@pytest.mark.django_db
def test_the_page_the_csv_and_the_api_show_the_label_and_the_code(client, owner, org):
    record_audit_event(organization=org, actor=owner.user, action="billing.top_up")
    client.force_login(owner.user)
    page = client.get("/organization/audit/").content.decode()
    assert "Balance topped up" in page and "billing.top_up" in page
    csv = b"".join(client.get("/organization/audit/export.csv").streaming_content).decode()
    header, row = csv.splitlines()[:2]
    assert header.split(",")[2:4] == ["action", "action_label"]
    assert "billing.top_up,Balance topped up" in row
    api = client.get("/api/v1/audit-events/").json()
    event = api["results"][0] if "results" in api else api[0]
    assert (event["action"], event["action_label"]) == ("billing.top_up", "Balance topped up")
