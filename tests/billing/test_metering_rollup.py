"""Rollups: incremental, exactly once, late events, steps, rebuild, retention; hypothesis."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.invoicing.models import Invoice
from billing.metering import services as metering
from billing.metering.models import RollupWatermark, UsageEvent, UsageRollup
from portal import periods
from tests.billing.metering_world import raw_totals, rollup_totals
from tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(minutes=30)


def test_a_rollup_folds_every_event_into_its_hour_once(metering_world):
    metering.ingest_usage(
        events=[
            metering_world.event(at=NOW - timedelta(minutes=10)),
            metering_world.event(at=NOW - timedelta(minutes=20)),
            metering_world.event(key="b", at=NOW - timedelta(minutes=5)),
            metering_world.event(key="n", model="chat-2", at=NOW - timedelta(days=3)),
        ]
    )
    last = UsageEvent.objects.latest("id").id
    assert metering.roll_up() == last
    assert metering.roll_up() == last  # nothing new: nothing changes
    assert rollup_totals() == raw_totals()
    hour_row = UsageRollup.objects.get(project=metering_world.projects["a"])
    assert hour_row.requests == 2
    assert hour_row.hour == NOW.replace(minute=0)
    assert UsageRollup.objects.get(project=metering_world.projects["n"]).department is None


def test_a_late_event_lands_in_its_own_hour_next_to_the_rolled_ones(metering_world):
    metering.ingest_usage(
        events=[metering_world.event(at=NOW), metering_world.event(at=NOW - timedelta(days=2))]
    )
    metering.roll_up()
    metering.ingest_usage(events=[metering_world.event(at=NOW - timedelta(days=2, minutes=10))])
    metering.ingest_usage(events=[metering_world.event(at=NOW - timedelta(days=9))])
    metering.roll_up()
    assert rollup_totals() == raw_totals()
    assert UsageRollup.objects.count() == 3
    assert UsageRollup.objects.get(hour=(NOW - timedelta(days=2)).replace(minute=0)).requests == 2


def test_small_steps_give_the_same_rollups_and_move_the_watermark_with_the_data(metering_world):
    metering.ingest_usage(
        events=[metering_world.event(at=NOW - timedelta(hours=i)) for i in range(7)]
    )
    metering.roll_up(step=2)
    assert rollup_totals() == raw_totals()
    assert metering.watermark() == UsageEvent.objects.latest("id").id


def test_rebuild_equals_incremental_for_everything_one_organization_and_a_date(metering_world):
    from tests.billing.metering_world import build_world
    from tests.factories import OrganizationFactory

    other = build_world(OrganizationFactory())
    for days in (0, 1, 5, 20):
        metering.ingest_usage(
            events=[
                metering_world.event(at=NOW - timedelta(days=days)),
                metering_world.event(
                    key="b", model="chat-2", at=NOW - timedelta(days=days, hours=3)
                ),
                other.event(key="n", at=NOW - timedelta(days=days)),
            ]
        )
        metering.roll_up(step=3)
    incremental = rollup_totals()
    call_command("rebuild_rollups")
    assert rollup_totals() == incremental
    call_command("rebuild_rollups", organization=metering_world.org.public_id)
    assert rollup_totals() == incremental
    since = (NOW - timedelta(days=3)).astimezone(periods.business_zone()).date()
    call_command("rebuild_rollups", organization=other.org.public_id, since=since.isoformat())
    assert rollup_totals() == incremental


def test_rebuild_leaves_events_above_the_watermark_to_the_next_run(metering_world):
    metering.ingest_usage(events=[metering_world.event(at=NOW)])
    metering.roll_up()
    metering.ingest_usage(events=[metering_world.event(at=NOW)])
    call_command("rebuild_rollups")
    metering.roll_up()
    assert rollup_totals() == raw_totals()


@pytest.mark.parametrize(
    ("options", "message"),
    [({"organization": "org_nope"}, "org_nope"), ({"since": "2026-02-30"}, "YYYY-MM-DD")],
)
def test_rebuild_refuses_bad_options(metering_world, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("rebuild_rollups", **options)


def invoice(world, month: datetime, status: str) -> Invoice:
    """Organization's monthly invoice for the business month holding `month`."""
    start = periods.month_of(month)
    issued = status != Invoice.Status.DRAFT
    return InvoiceFactory(
        organization=world.org, status=status, period_start=start,
        number=f"TP-{start:%Y}-{start:%m}0000" if issued else None,
        issued_at=NOW if issued else None,
        period_end=periods.add_months(start, 1),
    )  # fmt: skip


def test_purge_keeps_retention_and_never_drops_unrolled_or_uninvoiced_events(
    metering_world, settings
):
    settings.USAGE_RETENTION_DAYS = 400
    old, kept = NOW - timedelta(days=500), NOW - timedelta(days=10)
    metering.ingest_usage(events=[metering_world.event(at=kept)])
    UsageEvent.objects.update(occurred_at=old)  # older than any price: set directly
    # Nothing was ever invoiced: nothing may go.
    assert metering.purge_events() == 0
    invoice(metering_world, NOW - timedelta(days=40), Invoice.Status.ISSUED)
    # Not rolled up yet: the horizon stops at the month of the oldest open event.
    assert metering.purge_horizon() == periods.month_start(periods.month_of(old))
    assert metering.purge_events() == 0
    metering.roll_up()
    metering.ingest_usage(events=[metering_world.event(at=kept)])
    # A month still in draft holds the horizon at its start.
    draft = invoice(metering_world, old, Invoice.Status.DRAFT)
    assert metering.purge_horizon() == periods.month_start(periods.month_of(old))
    assert metering.purge_events() == 0
    Invoice.objects.filter(pk=draft.pk).update(
        status=Invoice.Status.ISSUED, number="TP-2025-000001", issued_at=NOW
    )
    assert metering.purge_horizon() == metering.retention_cutoff()
    assert metering.purge_events() == 1
    assert list(UsageEvent.objects.values_list("occurred_at", flat=True)) == [kept]
    assert UsageRollup.objects.filter(hour__lt=metering.retention_cutoff()).count() == 1


def test_the_beat_task_rolls_up(metering_world):
    from billing.metering.tasks import roll_up_usage

    metering.ingest_usage(events=[metering_world.event(at=NOW)])
    roll_up_usage.apply()
    assert rollup_totals() == raw_totals()


# --- Property: any interleaving ----------------------------------------------------------

event_spec = st.tuples(
    st.integers(0, 30),  # request id pool: small, so duplicates happen
    st.sampled_from(["a", "b", "n"]),
    st.sampled_from(["chat-1", "chat-2", "chat-latest"]),
    st.integers(0, 24 * 34),  # hours ago: late events up to the acceptance window
    st.integers(0, 50_000),
    st.integers(0, 5_000),
)
action = st.one_of(
    st.tuples(st.just("ingest"), st.lists(event_spec, min_size=1, max_size=8)),
    st.tuples(st.just("roll"), st.integers(1, 10)),
    st.tuples(st.just("rebuild"), st.booleans()),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=st.lists(action, max_size=12))
def test_any_interleaving_gives_rollups_equal_to_raw_totals(metering_world, actions):
    UsageRollup.objects.all().delete()
    UsageEvent.objects.all().delete()
    RollupWatermark.objects.all().delete()
    for kind, arg in actions:
        if kind == "ingest":
            metering.ingest_usage(
                events=[
                    metering_world.event(
                        key=key,
                        model=model,
                        at=NOW - timedelta(hours=ago),
                        request_id=f"p-{rid}",
                        input_tokens=inp,
                        output_tokens=out,
                    )
                    for rid, key, model, ago, inp, out in arg
                ]
            )
        elif kind == "roll":
            metering.roll_up(step=arg)
        else:
            metering.rebuild_rollups(organization=metering_world.org if arg else None)
    metering.roll_up()
    assert rollup_totals() == raw_totals()
    assert sum(r[0] for r in rollup_totals().values()) == len(
        {rid for k, a in actions if k == "ingest" for rid, *_ in a}
    )


def test_ingestion_lag_is_the_wait_of_the_oldest_event_not_yet_rolled_up(metering_world):
    assert metering.ingestion_lag() == metering.IngestionLag(pending_events=0, seconds=0.0)
    metering.ingest_usage(
        events=[metering_world.event(at=NOW), metering_world.event(key="b", at=NOW)]
    )
    first_ingested = UsageEvent.objects.order_by("id").first().ingested_at
    lag = metering.ingestion_lag(now=first_ingested + timedelta(seconds=90))
    assert lag.pending_events == 2
    assert lag.seconds == pytest.approx(90, abs=1)
    metering.roll_up()
    assert metering.ingestion_lag() == metering.IngestionLag(pending_events=0, seconds=0.0)
