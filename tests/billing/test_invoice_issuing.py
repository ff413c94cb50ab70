"""Issuing: gapless numbers under concurrency, frozen invoices, void, credit notes, notices."""

from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, InvoiceLine, LedgerEntry
from tests.billing.invoicing_data import NOV, at_once, customer, rollup
from tests.factories import as_actor

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers exist on PostgreSQL only"
)


def issued_invoice(**kwargs):
    c = customer(**kwargs)
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    return c, invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def finance_mailbox_events(c) -> list[str]:
    """The events emailed to the organization's billing address, in order."""
    return [
        m.extra_headers["X-Token-Portal-Event"]
        for m in mail.outbox
        if m.to == [c.organization.billing_email]
    ]


def test_issuing_numbers_the_invoice_and_makes_it_owed(django_capture_on_commit_callbacks):
    c = customer()
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    year = timezone.now().year
    assert invoice.number == f"TP-{year}-000001"
    assert invoice.status == "issued"
    assert invoice.due_at - invoice.issued_at == timedelta(days=30)
    assert ledger.balance(c.organization) == Decimal("-106.00")
    assert finance_mailbox_events(c) == ["invoice.issued"]
    assert any(m.to == [c.owner.user.email] for m in mail.outbox)  # and the owner, by notify
    with pytest.raises(invoicing.InvoiceError):
        invoicing.issue_invoice(actor=Actor.system(), invoice=invoice)


def test_a_prepaid_invoice_is_settled_from_the_balance_which_pays_the_vat():
    _, invoice = issued_invoice(payment_mode="prepaid")
    assert invoice.status == "paid"
    entry = LedgerEntry.objects.get(kind="invoice")
    assert entry.amount == Decimal("-6.00") and entry.reference == invoice.number


@pytest.mark.django_db(transaction=True)
def test_numbers_stay_gapless_when_many_invoices_are_issued_at_once():
    drafts = []
    for n in range(8):
        c = customer(name=f"客户 {n}")
        rollup(c, cost=str(n + 1))
        drafts.append(invoicing.close_month_for(organization=c.organization, month=NOV))
    errors = at_once(
        [partial(invoicing.issue_invoice, actor=Actor.system(), invoice=d) for d in drafts]
    )
    assert errors == []
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    year = timezone.now().year
    assert numbers == [f"TP-{year}-{n:06d}" for n in range(1, 9)]


def test_an_issued_invoice_and_its_lines_refuse_changes_in_the_model_layer():
    _, invoice = issued_invoice()
    invoice.total_amount = Decimal(1)
    with pytest.raises(TypeError):
        invoice.save()
    with pytest.raises(TypeError):
        invoice.save(update_fields=["total_amount"])
    with pytest.raises(TypeError):
        invoice.delete()
    with pytest.raises(TypeError):
        Invoice.objects.filter(pk=invoice.pk).update(total_amount=1)
    with pytest.raises(TypeError):
        Invoice.objects.filter(pk=invoice.pk).delete()
    line = invoice.lines.get()
    line.amount = Decimal(1)
    with pytest.raises(TypeError):
        line.save()
    with pytest.raises(TypeError):
        InvoiceLine.objects.filter(pk=line.pk).update(amount=1)
    with pytest.raises(TypeError):
        InvoiceLine.objects.create(
            invoice=invoice, position=2, service_month=NOV, description="x", amount=1
        )
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(invoice=invoice).update(amount=0)
    invoice.refresh_from_db()
    assert invoice.total_amount == Decimal("106.00")


@on_postgresql
def test_postgresql_refuses_raw_sql_changes_of_issued_invoices_lines_and_the_ledger():
    _, invoice = issued_invoice()
    statements = [
        ("UPDATE billing_invoice SET total_amount = 1 WHERE id = %s", invoice.pk),
        ("UPDATE billing_invoice SET status = 'draft' WHERE id = %s", invoice.pk),
        ("DELETE FROM billing_invoice WHERE id = %s", invoice.pk),
        ("UPDATE billing_invoiceline SET amount = 1 WHERE invoice_id = %s", invoice.pk),
        ("DELETE FROM billing_invoiceline WHERE invoice_id = %s", invoice.pk),
        ("UPDATE billing_ledgerentry SET amount = 0 WHERE invoice_id = %s", invoice.pk),
        ("DELETE FROM billing_ledgerentry WHERE invoice_id = %s", invoice.pk),
    ]
    for sql, pk in statements:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [pk])
    # The allowed transition passes the trigger.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_invoice SET status = 'paid', paid_at = now() WHERE id = %s",
            [invoice.pk],
        )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total_amount) == ("paid", Decimal("106.00"))


def test_void_keeps_the_record_and_reverses_the_ledger(staff_user):
    c, invoice = issued_invoice()
    with pytest.raises(invoicing.InvoiceError):
        invoicing.void_invoice(invoice=invoice, reason=" ", actor=as_actor(staff_user))
    invoicing.void_invoice(
        invoice=invoice, reason="开错了 wrong customer", actor=as_actor(staff_user)
    )
    invoice.refresh_from_db()
    assert invoice.status == "void" and invoice.void_reason == "开错了 wrong customer"
    assert ledger.balance(c.organization) == 0
    invoice.status = "issued"
    with pytest.raises(TypeError):
        invoice.save(update_fields=["status"])  # void is final: no way back


def test_a_credit_note_is_a_numbered_negative_document(staff_user):
    c, invoice = issued_invoice()
    note = invoicing.create_credit_note(
        invoice=invoice, net_amount=Decimal("10"), reason="SLA", actor=as_actor(staff_user)
    )
    assert note.kind == "credit_note" and note.credited_invoice == invoice
    assert note.number.endswith("000002")
    assert (note.subtotal_amount, note.tax_amount, note.total_amount) == (
        Decimal("-10.00"), Decimal("-0.60"), Decimal("-10.60"),
    )  # fmt: skip
    assert ledger.balance(c.organization) == Decimal("-95.40")
    with pytest.raises(invoicing.InvoiceError):
        invoicing.create_credit_note(
            invoice=invoice, net_amount=Decimal("1000"), reason="x", actor=as_actor(staff_user)
        )


def test_payment_marks_paid_once_per_provider_reference(django_capture_on_commit_callbacks):
    c, invoice = issued_invoice()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # a webhook delivered twice
            invoicing.record_payment(
                actor=Actor.system(),
                organization=c.organization,
                amount=invoice.total_amount,
                provider="alipay",
                reference="2026112722001",
                invoice=invoice,
            )
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert LedgerEntry.objects.filter(kind="payment").count() == 1
    assert ledger.balance(c.organization) == 0
    assert finance_mailbox_events(c).count("invoice.paid") == 1


def test_due_soon_and_overdue_notices_are_sent_once(django_capture_on_commit_callbacks):
    c, invoice = issued_invoice()
    with django_capture_on_commit_callbacks(execute=True):
        invoicing.send_invoice_notices(now=invoice.due_at - timedelta(days=1))
        invoicing.send_invoice_notices(now=invoice.due_at - timedelta(hours=1))
        invoicing.send_invoice_notices(now=invoice.due_at + timedelta(days=1))
        invoicing.send_invoice_notices(now=invoice.due_at + timedelta(days=2))
    assert finance_mailbox_events(c) == ["invoice.due_soon", "invoice.overdue"]


def test_suspension_waits_for_the_notice_period(settings, staff_user):
    settings.OVERDUE_SUSPENSION_NOTICE_DAYS = 14
    c, invoice = issued_invoice()
    with pytest.raises(invoicing.InvoiceError):  # not even overdue
        invoicing.suspend_for_overdue(organization=c.organization, actor=as_actor(staff_user))
    Invoice.objects.filter(pk=invoice.pk).update(
        overdue_sent_at=timezone.now() - timedelta(days=13)
    )
    with pytest.raises(invoicing.InvoiceError):
        invoicing.suspend_for_overdue(organization=c.organization, actor=as_actor(staff_user))
    Invoice.objects.filter(pk=invoice.pk).update(
        overdue_sent_at=timezone.now() - timedelta(days=14, minutes=1)
    )
    invoicing.suspend_for_overdue(organization=c.organization, actor=as_actor(staff_user))
    c.organization.refresh_from_db()
    assert c.organization.status == "suspended"
