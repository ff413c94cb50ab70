"""The call log: what the gateway reports of a call (latency, status), the page
(/usage/calls/), its CSV and GET /api/v1/organization/usage/calls: filters, keyset pages,
role scoping, bad input, query counts."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.metering import services as metering
from billing.metering.models import UsageEvent
from portal.money import format_money

pytestmark = pytest.mark.django_db
USAGE_URL = "/api/v1/gateway/usage"


def post_usage(client, token, events):
    return client.post(
        USAGE_URL,
        {"events": events},
        content_type="application/json",
        headers={"authorization": f"Bearer {token}"},
    )


# --- The gateway contract: latency and status ------------------------------------------------


def test_latency_and_status_are_stored_when_reported_and_null_when_not(
    metering_world, client, gateway_token
):
    reported = {**metering_world.event(request_id="with"), "latency_ms": 1234, "status_code": 200}
    explicit_null = {**metering_world.event(request_id="nulls"), "latency_ms": None}
    response = post_usage(
        client, gateway_token, [reported, explicit_null, metering_world.event(request_id="old")]
    )
    assert response.status_code == 202, response.json()
    stored = {e.request_id: (e.latency_ms, e.status_code) for e in UsageEvent.objects.all()}
    assert stored == {"with": (1234, 200), "nulls": (None, None), "old": (None, None)}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latency_ms", -1),
        ("latency_ms", 86_400_001),
        ("latency_ms", 1.5),
        ("latency_ms", "12"),
        ("latency_ms", True),
        ("status_code", 99),
        ("status_code", 600),
        ("status_code", "200"),
    ],
)
def test_a_bad_latency_or_status_refuses_the_batch_at_its_field(
    metering_world, client, gateway_token, field, value
):
    events = [metering_world.event(), {**metering_world.event(), field: value}]
    response = post_usage(client, gateway_token, events)
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, field)]
    assert not UsageEvent.objects.exists()


def test_the_service_takes_the_facts_too(metering_world):
    at = datetime.now(UTC) - timedelta(minutes=5)
    event = {**metering_world.event(at=at), "latency_ms": 0, "status_code": 499}
    (stored,) = metering.ingest_usage(events=[event]).events
    assert (stored.latency_ms, stored.status_code) == (0, 499)


# --- The page, its CSV and the API -------------------------------------------------------------

PAGE = "/usage/calls/"
API = "/api/v1/organization/usage/calls"


@pytest.fixture
def calls(metering_world):
    """Twelve calls a minute apart, newest first: keys a, b, n in turn (projects A, B and the
    one without department), models chat-1 and chat-2 in turn; the last four are reported
    with latency and status."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for i in range(12):
        event = metering_world.event(
            key="abn"[i % 3], model=("chat-1", "chat-2")[i % 2],
            at=now - timedelta(minutes=i + 1), request_id=f"call-{i:02d}",
        )  # fmt: skip
        if i < 4:
            event.update(latency_ms=1500 + i, status_code=200)
        events.append(event)
    metering.ingest_usage(events=events)
    metering_world.now = now
    return metering_world


def api(client, member, **params):
    client.force_login(member.user)
    return client.get(API, params)


def ids_of(body) -> list[str]:
    return [row["request_id"] for row in body["results"]]


def test_the_api_lists_calls_newest_first_with_everything_the_log_shows(client, calls):
    body = api(client, calls.members["owner"]).json()
    assert ids_of(body) == [f"call-{i:02d}" for i in range(12)]
    first = body["results"][0]
    event = UsageEvent.objects.get(request_id="call-00")
    assert first == {
        "request_id": "call-00",
        "occurred_at": first["occurred_at"],
        "project_id": calls.projects["a"].public_id,
        "project_name": "Project A",
        "api_key_id": calls.keys["a"].public_id,
        "api_key_name": "key a",
        "model": "chat-1",
        "input_tokens": 1000,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 200,
        "cost_amount": f"{event.cost_amount:.10f}",
        "currency": "CNY",
        "latency_ms": 1500,
        "status_code": 200,
        "estimated": False,
    }
    assert datetime.fromisoformat(first["occurred_at"]) == event.occurred_at
    assert body["results"][11]["latency_ms"] is None


def test_api_pages_follow_the_cursor_both_ways_without_repeats_or_gaps(client, calls):
    owner = calls.members["owner"]
    client.force_login(owner.user)
    seen, url = [], f"{API}?limit=5"
    while url:
        body = client.get(url).json()
        seen.append(ids_of(body))
        url = body["next"]
    assert seen == [
        [f"call-{i:02d}" for i in range(0, 5)],
        [f"call-{i:02d}" for i in range(5, 10)],
        ["call-10", "call-11"],
    ]
    back = client.get(body["previous"]).json()
    assert ids_of(back) == [f"call-{i:02d}" for i in range(5, 10)]
    assert ids_of(client.get(back["previous"]).json()) == [f"call-{i:02d}" for i in range(5)]
    assert client.get(back["previous"]).json()["previous"] is None


def test_calls_sharing_one_time_page_by_id(client, metering_world):
    """A gateway that reports times to the second: 7 calls at one instant, pages of 3."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    metering.ingest_usage(
        events=[metering_world.event(at=at, request_id=f"same-{i}") for i in range(7)]
    )
    client.force_login(metering_world.members["owner"].user)
    seen, url = [], f"{API}?limit=3"
    while url:
        body = client.get(url).json()
        seen += ids_of(body)
        url = body["next"]
    assert sorted(seen) == [f"same-{i}" for i in range(7)]
    assert len(seen) == 7


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"key": "key_a"}, [0, 3, 6, 9]),
        ({"project": "project_b"}, [1, 4, 7, 10]),
        ({"model": "chat-2"}, [1, 3, 5, 7, 9, 11]),
        ({"model": "chat-2", "key": "key_a"}, [3, 9]),
        ({"since": "minutes_4", "until": "minutes_1"}, [1, 2, 3]),
    ],
)
def test_filters_by_time_project_key_and_model(client, calls, params, expected):
    values = {
        "key_a": calls.keys["a"].public_id,
        "project_b": calls.projects["b"].public_id,
        "minutes_4": (calls.now - timedelta(minutes=4)).isoformat(),
        "minutes_1": (calls.now - timedelta(minutes=1)).isoformat(),
    }
    query = {name: values.get(value, value) for name, value in params.items()}
    body = api(client, calls.members["owner"], **query).json()
    assert ids_of(body) == [f"call-{i:02d}" for i in expected]


def test_a_time_without_offset_is_in_the_readers_zone(client, calls):
    """Asia/Shanghai is UTC+8: the same instant as the UTC time with an offset."""
    since = (calls.now - timedelta(minutes=3)).astimezone(timezone.get_current_timezone())
    naive = since.replace(tzinfo=None).isoformat()
    body = api(client, calls.members["owner"], since=naive).json()
    assert ids_of(body) == ["call-00", "call-01", "call-02"]  # from the instant on, inclusive


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"key": "key_zzzzzzzzzzzzzzzz"}, "key"),
        ({"key": "not an id"}, "key"),
        ({"project": "prj_zzzzzzzzzzzzzzzz"}, "project"),
        ({"model": "no-such-model"}, "model"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
        ({"cursor": "bm9wZQ=="}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"outcome": "broken"}, "outcome"),
    ],
)
def test_bad_filters_and_cursors_are_400_at_their_field(client, calls, params, field):
    response = api(client, calls.members["owner"], **params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_developer_sees_their_departments_calls_and_cannot_filter_by_others(client, calls):
    manager = calls.members["manager_b"]
    body = api(client, manager).json()
    assert ids_of(body) == [f"call-{i:02d}" for i in (1, 4, 7, 10)]
    assert api(client, manager, key=calls.keys["a"].public_id).status_code == 400
    assert api(client, manager, project=calls.projects["n"].public_id).status_code == 400


def test_another_organizations_member_sees_none_of_the_calls(client, calls):
    from tests.billing.metering_world import build_world

    other = build_world()
    body = api(client, other.members["owner"]).json()
    assert body["results"] == []
    assert api(client, other.members["owner"], key=calls.keys["a"].public_id).status_code == 400


def page(client, member, **params):
    client.force_login(member.user)
    return client.get(PAGE, params)


def test_the_page_shows_each_call_with_times_in_the_readers_zone_and_the_retention(
    client, calls, settings
):
    response = page(client, calls.members["owner"])
    assert response.status_code == 200
    html = response.content.decode()
    event = UsageEvent.objects.get(request_id="call-00")
    local = timezone.localtime(event.occurred_at)  # Asia/Shanghai
    assert f"{local:%Y-%m-%d %H:%M:%S}" in html
    assert "Time (Asia/Shanghai)" in html
    assert "key a" in html and "Project A" in html and "chat-2" in html
    assert "1,500 ms" in html
    assert format_money(event.cost_amount, "CNY") in html
    assert f"at least {settings.USAGE_RETENTION_DAYS} days" in html
    assert f"calls before {metering.retention_cutoff():%Y-%m-%d}" in html


def test_the_page_pages_with_older_and_newer_links(client, calls):
    owner = calls.members["owner"]
    client.force_login(owner.user)
    first = client.get(PAGE, {"limit": 5, "model": "chat-1"})
    assert [c.request_id for c in first.context["calls"]] == ["call-00", "call-02", "call-04",
                                                               "call-06", "call-08"]  # fmt: skip
    assert first.context["newer"] is None
    second = client.get(first.context["older"])
    assert [c.request_id for c in second.context["calls"]] == ["call-10"]
    assert second.context["older"] is None
    assert "model=chat-1" in second.context["newer"]
    back = client.get(second.context["newer"])
    assert [c.request_id for c in back.context["calls"]] == [
        c.request_id for c in first.context["calls"]
    ]


def test_the_page_shows_bad_filters_at_their_field_with_400(client, calls):
    response = page(client, calls.members["owner"], key="key_zzzzzzzzzzzzzzzz", since="never")
    assert response.status_code == 400
    errors = response.context["filter"].form.errors
    assert set(errors) == {"key", "since"}
    bad_cursor = page(client, calls.members["owner"], cursor="bm9wZQ==")
    assert bad_cursor.status_code == 400
    assert bad_cursor.context["error"] == "Not a cursor of this list."
    assert page(client, calls.members["owner"], limit="0").status_code == 400


def test_the_csv_holds_every_filtered_call_with_dated_times_and_exact_costs(client, calls):
    response = page(client, calls.members["owner"], export="csv", key=calls.keys["b"].public_id)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header, *body = rows
    assert header[:5] == ["Time", "Request ID", "Project", "API key", "Model"]
    assert [row[1] for row in body] == ["call-01", "call-04", "call-07", "call-10"]
    event = UsageEvent.objects.get(request_id="call-01")
    assert body[0][0] == timezone.localtime(event.occurred_at).isoformat()  # year and offset
    assert body[0][0].endswith("+08:00")
    assert body[0][2:5] == ["Project B", "key b", "chat-2"]
    assert Decimal(body[0][9]) == event.cost_amount
    assert body[0][10:] == ["CNY", "1501", "200", ""]


def test_a_developer_sees_their_departments_calls_on_the_page(client, calls):
    response = page(client, calls.members["developer_a"])
    assert [c.request_id for c in response.context["calls"]] == ["call-00", "call-03", "call-06",
                                                                  "call-09"]  # fmt: skip
    keys = [str(choice[1]) for choice in response.context["filter"].form.fields["key"].choices]
    assert keys[1:] == ["key a · Project A"]


@pytest.fixture
def outcomes(metering_world):
    """Five calls a minute apart, newest first, answered 200, 499, 502, 429 and unreported."""
    now = datetime.now(UTC).replace(microsecond=0)
    statuses = {"ok": 200, "closed": 499, "upstream": 502, "limited": 429, "unreported": None}
    events = [
        {**metering_world.event(at=now - timedelta(minutes=i + 1), request_id=name),
         "status_code": status}
        for i, (name, status) in enumerate(statuses.items())
    ]  # fmt: skip
    metering.ingest_usage(events=events)
    return metering_world


def test_the_page_names_a_failed_calls_status_in_words_not_colour_alone(client, outcomes):
    html = page(client, outcomes.members["owner"]).content.decode()
    assert '<span class="badge warn">499 Client closed</span>' in html
    assert '<span class="badge bad">502 Upstream error</span>' in html
    assert '<span class="badge bad">429 Request error</span>' in html
    assert "<td>200</td>" in html  # a success stays a plain number


@pytest.mark.parametrize(
    ("status", "failure"),
    [(None, None), (200, None), (304, None), (400, "request_error"), (499, "client_closed"),
     (500, "server_error"), (502, "upstream_error"), (504, "upstream_error")],
)  # fmt: skip
def test_a_calls_failure_is_read_from_its_status(status, failure):
    assert UsageEvent(status_code=status).failure == failure


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("failed", ["closed", "upstream", "limited"]), ("succeeded", ["ok"]), ("", None)],
)
def test_the_result_filter_picks_failed_or_succeeded_calls(client, outcomes, outcome, expected):
    everything = ["ok", "closed", "upstream", "limited", "unreported"]
    body = api(client, outcomes.members["owner"], outcome=outcome).json()
    assert ids_of(body) == (expected or everything)
    response = page(client, outcomes.members["owner"], outcome=outcome)
    assert [c.request_id for c in response.context["calls"]] == (expected or everything)
    assert 'name="outcome"' in response.content.decode()


# --- Query counts: constant in the page size -------------------------------------------------


def _queries(client, django_assert_num_queries, url, params, count):
    with django_assert_num_queries(count):
        response = client.get(url, params)
        if response.get("Content-Type", "").startswith("text/csv"):
            b"".join(response.streaming_content)
    assert response.status_code == 200


@pytest.mark.parametrize("limit", [2, 12])
def test_the_api_runs_the_same_queries_whatever_the_page_size(
    client, calls, django_assert_num_queries, limit
):
    client.force_login(calls.members["manager_b"].user)
    filters = {"limit": limit, "model": "chat-2", "key": calls.keys["b"].public_id}
    # session, user, membership; the department scope (the tree for the home department and
    # for the managed ones, the managed ones); the two filter choices; the page of calls with
    # their project, key and model.
    _queries(client, django_assert_num_queries, API, filters, 9)


@pytest.mark.parametrize("limit", [2, 12])
def test_the_page_runs_the_same_queries_whatever_the_page_size(
    client, calls, django_assert_num_queries, limit
):
    client.force_login(calls.members["owner"].user)
    # session, user, membership; the page of calls with their project, key and model; the
    # layout's unread notifications; the filter's choices (projects, keys, models).
    _queries(client, django_assert_num_queries, PAGE, {"limit": limit}, 8)


def test_the_usage_pages_link_to_their_calls(client, calls):
    client.force_login(calls.members["owner"].user)
    key = calls.keys["a"].public_id
    project = calls.projects["b"].public_id
    assert f'href="/usage/calls/?key={key}"' in client.get(f"/usage/keys/{key}/").content.decode()
    html = client.get(f"/usage/projects/{project}/").content.decode()
    assert f'href="/usage/calls/?project={project}"' in html
    assert 'href="/usage/calls/"' in client.get("/usage/").content.decode()
