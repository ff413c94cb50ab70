"""GET /api/v1/organization/usage and /costs: buckets in the business time zone, grouping,
filters, pagination, the not-yet-rolled tail, tenancy, bad parameters, query counts."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.metering import services as metering
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
# 2026-11-10 00:00 in Asia/Shanghai is 2026-11-09 16:00 UTC.
DAY_10 = int(datetime(2026, 11, 9, 16, tzinfo=UTC).timestamp())
DAY = 86400


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def used(metering_world):
    """Events around the business day boundary (16:00 UTC), in three projects, two models;
    the first two are rolled up, the rest are the tail."""
    ingest = lambda *events: metering.ingest_usage(events=list(events), now=NOW)  # noqa: E731
    ingest(
        metering_world.event(
            key="a", at=at("2026-11-10T15:59:59"), input_tokens=100, output_tokens=10
        ),
        metering_world.event(
            key="b", at=at("2026-11-10T16:00:00"), input_tokens=200, output_tokens=20
        ),
    )
    metering.roll_up()
    ingest(
        metering_world.event(
            key="n",
            model="chat-2",
            at=at("2026-11-11T03:00:00"),
            input_tokens=300,
            output_tokens=30,
        ),
        metering_world.event(
            key="a", at=at("2026-11-12T17:00:00"), input_tokens=400, output_tokens=40
        ),
    )
    return metering_world


def get(client, member, path="usage", **params):
    client.force_login(member.user)
    return client.get(f"/api/v1/organization/{path}", params)


def totals(body):
    return [
        (b["start_time"], sum(r.get("input_tokens", 0) for r in b["results"])) for b in body["data"]
    ]


def test_days_start_at_midnight_in_the_business_time_zone(client, used):
    body = get(client, used.members["owner"], start_time=DAY_10, end_time=DAY_10 + 4 * DAY).json()
    assert body["object"] == "page"
    # 15:59:59 UTC is the 10th in Shanghai; 16:00 UTC and 03:00 UTC the next morning are the 11th.
    assert totals(body) == [
        (DAY_10, 100), (DAY_10 + DAY, 500), (DAY_10 + 2 * DAY, 0), (DAY_10 + 3 * DAY, 400),
    ]  # fmt: skip
    first = body["data"][0]
    assert first["end_time"] == DAY_10 + DAY
    assert first["results"] == [
        {
            "object": "organization.usage.result", "requests": 1, "input_tokens": 100,
            "output_tokens": 10, "cached_input_tokens": 0, "cache_write_tokens": 0,
            "project_id": None, "department_id": None, "api_key_id": None, "model": None,
        }
    ]  # fmt: skip


def test_hour_and_month_buckets(client, used):
    hours = get(
        client, used.members["owner"], start_time=DAY_10 + DAY - 3600,
        end_time=DAY_10 + DAY + 3600, bucket_width="1h",
    ).json()  # fmt: skip
    assert totals(hours) == [(DAY_10 + DAY - 3600, 100), (DAY_10 + DAY, 200)]
    month = get(
        client, used.members["owner"], start_time=DAY_10, end_time=DAY_10 + 1, bucket_width="1mo"
    ).json()
    # The bucket holding start_time: November in Shanghai, from 2026-10-31 16:00 UTC.
    assert month["data"][0]["start_time"] == int(at("2026-10-31T16:00:00").timestamp())
    assert month["data"][0]["results"][0]["requests"] == 4


def test_rolled_rows_and_the_tail_add_up_whatever_is_rolled(client, used):
    params = {"start_time": DAY_10, "end_time": DAY_10 + 4 * DAY}
    before = get(client, used.members["owner"], **params).json()
    metering.roll_up()
    assert get(client, used.members["owner"], **params).json() == before


def test_group_by_and_filters(client, used):
    owner = used.members["owner"]
    params = {"start_time": DAY_10, "end_time": DAY_10 + 4 * DAY, "group_by": "project_id,model"}
    body = get(client, owner, **params).json()
    day_11 = sorted(
        (r["project_id"], r["model"], r["input_tokens"]) for r in body["data"][1]["results"]
    )
    assert day_11 == sorted(
        [
            (used.projects["b"].public_id, "chat-1", 200),
            (used.projects["n"].public_id, "chat-2", 300),
        ]
    )
    only = get(client, owner, **params, models="chat-2").json()
    assert totals(only) == [
        (DAY_10, 0),
        (DAY_10 + DAY, 300),
        (DAY_10 + 2 * DAY, 0),
        (DAY_10 + 3 * DAY, 0),
    ]
    keys = f"{used.keys['a'].public_id},{used.keys['b'].public_id}"
    assert [t for _, t in totals(get(client, owner, **params, api_key_ids=keys).json())] == [
        100, 200, 0, 400,
    ]  # fmt: skip
    by_department = get(
        client,
        owner,
        **{**params, "group_by": "department_id"},
        department_ids=used.deps["B"].public_id,
    ).json()
    assert [r["department_id"] for b in by_department["data"] for r in b["results"]] == [
        used.deps["B"].public_id
    ]


def test_pagination_follows_next_page(client, used):
    owner = used.members["owner"]
    params = {"start_time": DAY_10, "end_time": DAY_10 + 4 * DAY, "limit": 3}
    first = get(client, owner, **params).json()
    assert first["has_more"] is True
    assert len(first["data"]) == 3
    second = get(client, owner, **params, page=first["next_page"]).json()
    assert second["has_more"] is False
    assert second["next_page"] is None
    assert totals(second) == [(DAY_10 + 3 * DAY, 400)]


def test_costs_are_exact_amounts_with_currency(client, used):
    body = get(
        client, used.members["owner"], "costs", start_time=DAY_10, end_time=DAY_10 + 4 * DAY,
        group_by="project_id",
    ).json()  # fmt: skip
    result = body["data"][0]["results"][0]
    assert result["object"] == "organization.costs.result"
    assert result["project_id"] == used.projects["a"].public_id
    # 100 x 2 + 10 x 8 per million
    assert Decimal(result["amount"]["value"]) == Decimal("0.00028")
    assert result["amount"]["currency"] == "CNY"


def test_a_department_manager_and_a_department_developer_see_their_subtree_only(client, used):
    params = {"start_time": DAY_10, "end_time": DAY_10 + 4 * DAY}
    manager = get(client, used.members["manager_b"], **params).json()
    assert [t for _, t in totals(manager)] == [0, 200, 0, 0]
    developer = get(client, used.members["developer_a"], **params).json()
    assert [t for _, t in totals(developer)] == [100, 0, 0, 400]
    viewer = get(client, used.members["viewer"], **params).json()
    assert [t for _, t in totals(viewer)] == [100, 500, 0, 400]


def test_an_outsider_gets_404_for_the_organization_and_no_data_in_their_own(client, used):
    outsider = MembershipFactory()
    params = {"start_time": DAY_10, "end_time": DAY_10 + 4 * DAY}
    client.force_login(outsider.user)
    for path in ("usage", "costs"):
        response = client.get(
            f"/api/v1/organization/{path}", params, headers={"x-organization": used.org.public_id}
        )
        assert response.status_code == 404
        assert all(not b["results"] for b in get(client, outsider, path, **params).json()["data"])


def test_signed_out_is_refused(client, used):
    assert client.get("/api/v1/organization/usage", {"start_time": DAY_10}).status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "start_time"),
        ({"start_time": "soon"}, "start_time"),
        ({"start_time": DAY_10, "end_time": DAY_10}, "end_time"),
        ({"start_time": DAY_10, "bucket_width": "1w"}, "bucket_width"),
        ({"start_time": DAY_10, "group_by": "project_id,colour"}, "group_by"),
        ({"start_time": DAY_10, "limit": 32}, "limit"),
        ({"start_time": DAY_10, "bucket_width": "1h", "limit": 0}, "limit"),
        ({"start_time": DAY_10, "end_time": DAY_10 + DAY, "page": DAY_10 + 2 * DAY}, "page"),
    ],
)
def test_bad_parameters_are_400_with_field_errors(client, used, params, field):
    response = get(client, used.members["owner"], **params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize("path", ["usage", "costs"])
@pytest.mark.parametrize(("member", "queries"), [("owner", 5), ("manager_b", 8)])
def test_query_count_is_pinned(client, used, django_assert_num_queries, path, member, queries):
    client.force_login(used.members[member].user)
    params = {"start_time": DAY_10, "end_time": DAY_10 + 4 * DAY, "group_by": "project_id"}
    # session, user, membership, the watermark (a planner hint), then ONE union query of
    # rollups and tail. A department-scoped member adds accounts' scope_for() once (3
    # queries, remembered on the membership for the two scoped querysets).
    with django_assert_num_queries(queries):
        assert client.get(f"/api/v1/organization/{path}", params).status_code == 200
