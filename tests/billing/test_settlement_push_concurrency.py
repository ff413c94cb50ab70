"""Two workers push the same settlement at the same moment (each thread its own database
connection): the operator receives it once. The settlement's row lock (SKIP LOCKED) is
PostgreSQL's, so this runs there only."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from accounts.audit_trail import Actor
from accounts.models import AuditEvent
from billing.managed import settlement as settlements
from billing.managed.billing_system import billing_system
from billing.managed.models import Settlement
from tests.billing import fake_operator_billing
from tests.billing.invoicing_data import NOV, at_once, customer, rollup

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks with SKIP LOCKED are PostgreSQL's"
)

DEC_5 = datetime(2026, 12, 5, 2, tzinfo=UTC)


def test_two_workers_pushing_the_same_settlement_send_it_once(
    transactional_db, settings, server_port
):
    settings.OPERATOR_BILLING_URL = f"http://127.0.0.1:{server_port}/settlements"
    settings.OPERATOR_BILLING_TOKEN = fake_operator_billing.TOKEN
    c = customer(name="某市大数据局")
    settlements.set_consolidated_billing(actor=Actor.system(), organization=c.organization,
                                         enabled=True, operator_account_number="A-1")  # fmt: skip
    rollup(c, cost="10.00")
    settlement = settlements.build_settlement(month=NOV)
    acknowledged = []

    def push():
        acknowledged.append(
            settlements.push_settlement(settlement, system=billing_system(), now=DEC_5)
        )

    # The receiver answers a second later: the first worker still holds the row when the
    # second one looks for it.
    with fake_operator_billing.receiver(server_port, delay=1) as received:
        assert at_once([push, push]) == []
        assert len(received) == 1
        assert sorted(acknowledged) == [False, True]  # the other left it to the one pushing
        # Acknowledged: a later push sends nothing.
        assert settlements.push_settlement(settlement, system=billing_system(), now=DEC_5)
        assert len(received) == 1
    settlement.refresh_from_db()
    assert (settlement.status, settlement.attempts, settlement.ack_id) == (
        Settlement.Status.ACKNOWLEDGED, 1, "ACK-0001",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="billing.settlement_acknowledged").count() == 1
