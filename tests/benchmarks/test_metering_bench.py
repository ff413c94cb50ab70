"""Metering benchmarks (PostgreSQL). Each prints its figure next to its baseline and the ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_metering make bench-metering

Sizes: METERING_BENCH_EVENTS (default 5,000,000) raw events for the rollup and costs
benchmarks; METERING_BENCH_HTTP_EVENTS (default 50,000) for the ingestion one.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.db import connection

from billing.metering import services as metering
from billing.metering.models import RollupWatermark, UsageEvent, UsageRollup
from tests.billing.metering_world import build_world
from tests.conftest import free_port
from tests.factories import GatewayCredentialFactory
from tests.projects.server import gunicorn

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the metering benchmarks measure PostgreSQL: set DATABASE_URL",
    ),
]
EVENTS = int(os.environ.get("METERING_BENCH_EVENTS", 5_000_000))
HTTP_EVENTS = int(os.environ.get("METERING_BENCH_HTTP_EVENTS", 50_000))
BIG_MONTH = datetime(2026, 9, 30, 16, tzinfo=UTC)  # October 2026 in Asia/Shanghai
SMALL_MONTH = datetime(2026, 8, 31, 16, tzinfo=UTC)  # September 2026


def report(name, value, unit, baseline, baseline_unit, ratio, target):
    print(
        f"\n[bench] {name}: {value:,.3f} {unit} | baseline {baseline:,.3f} {baseline_unit} "
        f"| ratio {ratio:.2f} (target {target})"
    )


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def generate(world, count, month_start, first):
    """`count` events spread over the month, by SQL (generate_series), ids after `first`."""
    keys = [world.keys[name] for name in "abn"]
    versions = [world.models[m].prices.get().pk for m in ("chat-1", "chat-2")]
    models = [world.models[m].pk for m in ("chat-1", "chat-2")]
    with connection.cursor() as cursor:
        # Generated rows reference rows that exist: skip the per-row foreign key triggers.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO billing_usageevent (request_id, organization_id, department_id,
              project_id, api_key_id, model_id, price_version_id, input_tokens, output_tokens,
              cached_input_tokens, cache_write_tokens, discount_percent, cost_amount, currency,
              estimated, occurred_at, ingested_at)
            SELECT 'bench-' || g, %(org)s, (%(deps)s::bigint[])[1 + g %% 3],
              (%(projects)s::bigint[])[1 + g %% 3], (%(keys)s::bigint[])[1 + g %% 3],
              (%(models)s::bigint[])[1 + g %% 2], (%(versions)s::bigint[])[1 + g %% 2],
              g %% 5000, g %% 700, g %% 300, 0, 0, (g %% 1000) * 0.0000137, 'CNY', false,
              %(start)s + (g %% (30 * 86400)) * interval '1 second', now()
            FROM generate_series(%(first)s + 1, %(first)s + %(count)s) AS g
            """,
            {
                "org": world.org.pk,
                "deps": [k.project.department_id for k in keys],
                "projects": [k.project_id for k in keys],
                "keys": [k.pk for k in keys],
                "models": models,
                "versions": versions,
                "start": month_start,
                "first": first,
                "count": count,
            },
        )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE billing_usageevent")


@pytest.fixture
def metering_world():
    return build_world()


def test_ingestion_over_http_vs_copy(metering_world, tmp_path):
    token = GatewayCredentialFactory(name="bench").plaintext
    now = datetime.now(UTC)
    batches = [
        [
            metering_world.event(
                key="abn"[i % 3],
                model=("chat-1", "chat-2")[i % 2],
                at=now - timedelta(seconds=i),
                request_id=f"h-{b}-{i}",
            )
            for i in range(1000)
        ]
        for b in range(HTTP_EVENTS // 1000)
    ]
    with gunicorn(free_port(), workers=4, log_path=tmp_path / "gunicorn.log") as base:

        def post(batch):
            response = httpx.post(
                f"{base}/api/v1/gateway/usage", json={"events": batch},
                headers={"authorization": f"Bearer {token}"}, timeout=60,
            )  # fmt: skip
            assert response.status_code == 202, response.text

        post(batches[0])  # warm up (imports, connections, caches)
        with ThreadPoolExecutor(4) as pool:
            seconds = timed(lambda: list(pool.map(post, batches[1:])))
    http_rate = (len(batches) - 1) * 1000 / seconds

    rows = list(
        UsageEvent.objects.values_list(
            "request_id", "organization_id", "department_id", "project_id", "api_key_id",
            "model_id", "price_version_id", "input_tokens", "output_tokens",
            "cached_input_tokens", "cost_amount", "currency", "occurred_at",
        )
    )  # fmt: skip
    columns = (
        "request_id, organization_id, department_id, project_id, api_key_id, model_id, "
        "price_version_id, input_tokens, output_tokens, cached_input_tokens, cost_amount, "
        "currency, occurred_at"
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bare_events AS TABLE billing_usageevent WITH NO DATA")

        def copy():
            with cursor.connection.cursor().copy(f"COPY bare_events ({columns}) FROM STDIN") as c:
                for row in rows:
                    c.write_row(row)

        copy_rate = len(rows) / timed(copy)
    ratio = http_rate / copy_rate
    report("ingest over HTTP (1,000-event batches, 4 workers)", http_rate, "events/s",
           copy_rate, "events/s (COPY)", ratio, ">= 0.25")  # fmt: skip


def test_rollups_full_incremental_and_the_costs_api(metering_world, client):
    generate(metering_world, EVENTS, BIG_MONTH, 0)
    generate(metering_world, 5000, SMALL_MONTH, EVENTS)
    RollupWatermark.objects.all().delete()

    full = timed(metering.roll_up)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bare_rollup (LIKE billing_usagerollup)")
        baseline = timed(
            lambda: cursor.execute(
                """
                INSERT INTO bare_rollup (id, hour, organization_id, department_id, project_id,
                  api_key_id, model_id, requests, input_tokens, output_tokens,
                  cached_input_tokens, cache_write_tokens, cost_amount, currency)
                SELECT row_number() OVER (), date_trunc('hour', occurred_at), organization_id,
                  department_id, project_id, api_key_id, model_id, count(*), sum(input_tokens),
                  sum(output_tokens), sum(cached_input_tokens), sum(cache_write_tokens),
                  sum(cost_amount), max(currency)
                FROM billing_usageevent
                GROUP BY 2, 3, 4, 5, 6, 7
                """
            )
        )
    report(f"full rollup of {EVENTS + 5000:,} events", full, "s", baseline,
           "s (one INSERT ... SELECT ... GROUP BY)", full / baseline, "<= 1.5")  # fmt: skip

    generate(metering_world, 10_000, BIG_MONTH, EVENTS + 5000)
    incremental = timed(metering.roll_up)
    report("incremental rollup of 10,000 new events", incremental, "s", full, "s (full)",
           incremental / full, "< 1 s absolute")  # fmt: skip
    assert UsageRollup.objects.count() > 0

    client.force_login(metering_world.members["owner"].user)

    def costs(month):
        params = {"start_time": int(month.timestamp()), "bucket_width": "1d", "limit": 31,
                  "group_by": "project_id,model"}  # fmt: skip
        response = client.get("/api/v1/organization/costs", params)
        assert response.status_code == 200

    costs(SMALL_MONTH)  # warm up
    big = min(timed(lambda: costs(BIG_MONTH)) for _ in range(5))
    small = min(timed(lambda: costs(SMALL_MONTH)) for _ in range(5))
    report("costs API, month of 5M events", big, "s", small, "s (month of 5,000)",
           big / small, "<= 2")  # fmt: skip
