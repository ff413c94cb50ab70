"""The usage dashboard and the per-project and per-key pages, with CSV exports."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from billing.metering import services as metering
from portal import periods
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def used(metering_world):
    now = datetime.now(UTC)
    start = periods.month_start(periods.month_of(now))
    at = max(start, now - timedelta(hours=1))
    metering.ingest_usage(
        events=[
            metering_world.event(key="a", at=at, input_tokens=1_000_000, output_tokens=0),
            metering_world.event(
                key="b", model="chat-2", at=at, input_tokens=500, output_tokens=500
            ),
        ]
    )
    metering.roll_up()
    metering.ingest_usage(
        events=[metering_world.event(key="a", at=at, input_tokens=100, output_tokens=0)]
    )
    return metering_world


def page(client, member, path="/usage/", **params):
    client.force_login(member.user)
    return client.get(path, params)


def test_the_dashboard_shows_month_to_date_tokens_cost_forecast_and_tops(client, used):
    response = page(client, used.members["owner"])
    assert response.status_code == 200
    report = response.context["report"]
    assert report.tokens == 1_000_000 + 1000 + 100
    assert set(report.costs) == {"CNY"}
    assert report.forecast["CNY"] >= report.costs["CNY"]
    assert [row["id"] for row in report.top_models] == ["chat-1", "chat-2"]
    assert report.top_keys[0]["name"] == "key a"
    assert b"vendor/echarts.min.js" in response.content
    assert b'id="usage-data"' in response.content


@pytest.mark.parametrize("by", ["model", "project_id", "department_id"])
def test_the_chart_stacks_by_model_project_or_department(client, used, by):
    chart = page(client, used.members["owner"], by=by).context["report"].chart
    assert chart["by"] == by
    assert sum(sum(line["tokens"]) for line in chart["series"]) == 1_001_100


@pytest.mark.parametrize("table", ["days", "models", "keys"])
def test_every_table_exports_csv(client, used, table):
    response = page(client, used.members["owner"], export=table)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows) > 1


def test_project_and_key_pages_show_their_own_usage(client, used):
    owner = used.members["owner"]
    project = page(client, owner, f"/usage/projects/{used.projects['b'].public_id}/")
    assert project.context["report"].tokens == 1000
    key = page(client, owner, f"/usage/keys/{used.keys['a'].public_id}/")
    assert key.context["report"].tokens == 1_000_100


def test_a_department_member_sees_only_their_subtree_and_404_elsewhere(client, used):
    manager = used.members["manager_b"]
    assert page(client, manager).context["report"].tokens == 1000
    assert (
        page(client, manager, f"/usage/projects/{used.projects['a'].public_id}/").status_code == 404
    )


def test_an_outsider_gets_404_on_the_projects_and_keys_of_another_organization(client, used):
    outsider = MembershipFactory()
    assert page(client, outsider).context["report"].tokens == 0
    for path in (
        f"/usage/projects/{used.projects['a'].public_id}/",
        f"/usage/keys/{used.keys['a'].public_id}/",
    ):
        assert page(client, outsider, path).status_code == 404


def test_signed_out_goes_to_sign_in(client, used):
    assert client.get("/usage/").status_code == 302


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_token_figures_are_grouped_by_thousands_in_both_languages(client, used, language):
    client.cookies["django_language"] = language
    html = page(client, used.members["owner"]).content.decode()
    assert '<p class="figure">1,001,100</p>' in html
    assert "<td>1,000,100</td>" in html  # the top keys table
    assert f'<html lang="{language}"' in html
