"""Many usage events at once, written by SQL (INSERT ... SELECT generate_series) rather than
through ingestion: the call log's PostgreSQL tests and its benchmark read them."""

from datetime import datetime

from django.db import connection


def generate_calls(world, count: int, *, start: datetime, seconds: int, keys=None, models=None):
    """`count` events of `world` at `start` + (n mod `seconds`) seconds (so some share a
    time), the n-th with keys[n mod len(keys)] (default the world's keys a, b, n) and
    models[n mod len(models)] (default chat-1, chat-2); every tenth reports a latency and a
    status. Request ids continue after the events already stored."""
    keys = keys or [world.keys[name] for name in "abn"]
    models = models or [world.models["chat-1"], world.models["chat-2"]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM billing_usageevent")
        first = cursor.fetchone()[0]
        # The rows reference rows that exist: skip the per-row foreign key triggers.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO billing_usageevent (request_id, organization_id, department_id,
              project_id, api_key_id, model_id, price_version_id, input_tokens, output_tokens,
              cached_input_tokens, cache_write_tokens, discount_percent, cost_amount, currency,
              estimated, occurred_at, ingested_at, latency_ms, status_code)
            SELECT 'gen-' || g, %(org)s, (%(deps)s::bigint[])[1 + g %% %(nkeys)s],
              (%(projects)s::bigint[])[1 + g %% %(nkeys)s],
              (%(keys)s::bigint[])[1 + g %% %(nkeys)s],
              (%(models)s::bigint[])[1 + g %% %(nmodels)s],
              (%(versions)s::bigint[])[1 + g %% %(nmodels)s],
              g %% 5000, g %% 700, g %% 300, 0, 0, (g %% 1000) * 0.0000137, 'CNY', false,
              %(start)s + (g %% %(seconds)s) * interval '1 second', now(),
              CASE WHEN g %% 10 = 0 THEN g %% 4000 END, CASE WHEN g %% 10 = 0 THEN 200 END
            FROM generate_series(%(first)s + 1, %(first)s + %(count)s) AS g
            """,
            {
                "org": world.org.pk,
                "deps": [key.project.department_id for key in keys],
                "projects": [key.project_id for key in keys],
                "keys": [key.pk for key in keys],
                "nkeys": len(keys),
                "models": [model.pk for model in models],
                "versions": [model.prices.get().pk for model in models],
                "nmodels": len(models),
                "start": start,
                "seconds": seconds,
                "first": first,
                "count": count,
            },
        )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE billing_usageevent")
