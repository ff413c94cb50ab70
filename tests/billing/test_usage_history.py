"""Usage history: the month and date-range pickers, the comparison with the previous period,
dates with their year in every CSV, and the same totals as the costs API."""

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.permissions import Role
from billing.metering import services as metering
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def history(metering_world):
    """September and October 2026 (Asia/Shanghai), in departments A and B: October costs
    more; the last October event is left in the not-yet-rolled tail."""
    world = metering_world
    ingest = lambda when, *events: metering.ingest_usage(events=list(events), now=at(when))  # noqa: E731
    ingest(
        "2026-09-30T20:00:00",
        world.event(key="a", at=at("2026-09-05T02:00:00"), input_tokens=1_000_000, output_tokens=0),
        world.event(key="b", at=at("2026-09-30T15:00:00"), input_tokens=500_000, output_tokens=0),
    )
    ingest(
        "2026-10-31T12:00:00",
        # 2026-09-30 16:30 UTC is 1 October in Shanghai.
        world.event(key="a", at=at("2026-09-30T16:30:00"), input_tokens=2_000_000, output_tokens=0),
        world.event(key="b", at=at("2026-10-15T04:00:00"), input_tokens=1_000_000, output_tokens=0),
    )
    metering.roll_up()
    ingest(
        "2026-10-31T12:00:00",
        world.event(key="n", model="chat-2", at=at("2026-10-20T04:00:00"), input_tokens=3_000_000,
                    output_tokens=0),
    )  # fmt: skip
    world.members["billing"] = MembershipFactory(organization=world.org, role=Role.BILLING)
    return world


def page(client, member, path="/usage/", **params):
    client.force_login(member.user)
    return client.get(path, params)


def rows_of(response):
    return rows_of_text(b"".join(response.streaming_content))


def rows_of_text(content: bytes):
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def costs_api_total(client, report, **filters) -> dict:
    """The costs API's total per currency for the page's period, paging through it."""
    params = {
        "start_time": int(report.start.timestamp()),
        "end_time": int(report.end.timestamp()),
        "bucket_width": "1d",
        "limit": 31,
        **filters,
    }
    totals: dict = {}
    while True:
        body = client.get("/api/v1/organization/costs", params).json()
        for bucket in body["data"]:
            for result in bucket["results"]:
                amount = result["amount"]
                totals[amount["currency"]] = totals.get(amount["currency"], 0) + Decimal(
                    amount["value"]
                )
        if not body["has_more"]:
            return totals
        params["page"] = body["next_page"]


def test_the_month_picker_shows_that_month_against_the_one_before(client, history):
    report = page(client, history.members["owner"], month="2026-10").context["report"]
    assert report.tokens == 6_000_000
    assert report.costs == {"CNY": Decimal(4 + 2 + 3)}  # 2 and 1 CNY per million
    assert report.previous.tokens == 1_500_000
    assert report.previous.costs == {"CNY": Decimal("3")}
    [cny] = report.cost_comparison
    assert (cny["amount"], cny["before"], cny["change"]) == (Decimal(9), Decimal(3), Decimal(200))
    assert round(report.tokens_change) == 300
    assert report.forecast == {}  # a month that is over needs none
    assert report.chart["days"][0] == "2026-10-01" and len(report.chart["days"]) == 31


def test_the_date_range_counts_both_days_and_compares_with_the_days_before(client, history):
    response = page(client, history.members["owner"], start="2026-10-01", end="2026-10-15")
    report = response.context["report"]
    assert report.tokens == 3_000_000  # 1 October (the UTC day before) and the 15th
    assert (report.start.isoformat(), report.end.isoformat()) == (
        "2026-10-01T00:00:00+08:00",
        "2026-10-16T00:00:00+08:00",
    )
    # Starting on a month's first day: the same 15 days of September.
    assert report.previous.start.isoformat() == "2026-09-01T00:00:00+08:00"
    assert report.previous.tokens == 1_000_000
    later = page(client, history.members["owner"], start="2026-10-16", end="2026-10-31")
    assert later.context["report"].previous.start.isoformat() == "2026-09-30T00:00:00+08:00"
    assert later.context["report"].previous.tokens == 3_500_000  # 30 September to 15 October
    html = response.content.decode()
    assert 'value="2026-10-01"' in html and 'value="2026-10-15"' in html
    assert "+200.0 %" in html  # tokens: 3 M against 1 M


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"start": "2026-10-01"}, "end"),
        ({"start": "2026-10-10", "end": "2026-10-01"}, "end"),
        ({"start": "2025-01-01", "end": "2026-10-01"}, "end"),
        ({"start": "yesterday", "end": "2026-10-01"}, "start"),
        ({"start": "2999-01-01", "end": "2999-01-02"}, "start"),
        ({"month": "2999-01"}, "month"),
    ],
)
def test_a_bad_period_is_a_400_with_the_error_at_its_field(client, history, params, field):
    response = page(client, history.members["owner"], **params)
    assert response.status_code == 400
    assert response.context["report"] is None
    assert field in response.context["period"].errors
    assert f'id="usage-{field}-error"' in response.content.decode()


@pytest.mark.parametrize("table", ["days", "models", "keys"])
def test_every_csv_date_carries_its_year(client, history, table):
    response = page(client, history.members["owner"], month="2026-10", export=table)
    assert response["Content-Disposition"].endswith(f'usage-{table}-2026-10-01-2026-10-31.csv"')
    _header, *rows = rows_of(response)
    assert rows
    dates = [cell for row in rows for cell in row if re.fullmatch(r"[\d-]+", cell) and "-" in cell]
    assert dates and all(re.fullmatch(r"2026-\d\d-\d\d", cell) for cell in dates)
    if table == "days":
        assert [row[0] for row in rows] == sorted(row[0] for row in rows)
        assert sum(Decimal(row[3]) for row in rows) == Decimal(9)
    else:
        assert rows[0][:2] == ["2026-10-01", "2026-10-31"]


@pytest.mark.parametrize("role", ["owner", "billing", "manager_b", "developer_a"])
@pytest.mark.parametrize(
    "params", [{"month": "2026-10"}, {"start": "2026-09-20", "end": "2026-10-16"}]
)
def test_the_page_totals_are_the_costs_api_totals(client, history, role, params):
    report = page(client, history.members[role], **params).context["report"]
    assert report.costs == costs_api_total(client, report)


def test_the_project_page_totals_are_the_costs_api_totals_for_that_project(client, history):
    project = history.projects["a"]
    response = page(
        client, history.members["owner"], f"/usage/projects/{project.public_id}/", month="2026-10"
    )
    report = response.context["report"]
    assert report.costs == {"CNY": Decimal(4)}
    assert report.costs == costs_api_total(client, report, project_ids=project.public_id)


def test_a_developer_sees_only_their_department_in_both_periods(client, history):
    report = page(client, history.members["developer_a"], month="2026-10").context["report"]
    assert (report.tokens, report.previous.tokens) == (2_000_000, 1_000_000)
    assert [row["id"] for row in report.top_models] == ["chat-1"]


def test_the_chargeback_csv_names_its_month_with_the_year(client, history):
    client.force_login(history.members["billing"].user)
    response = client.get("/billing/chargeback/2026-10.csv")
    assert response.status_code == 200
    _header, *rows = rows_of_text(response.content)
    assert rows and {row[0] for row in rows} == {"2026-10"}
