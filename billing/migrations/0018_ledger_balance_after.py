"""Each ledger entry keeps the balance after it (the ledger page's running balance), and an
invoice line its cache-write tokens. Existing entries get theirs from the sum of their
organization's entries in id order, the one UPDATE the append-only trigger lets through."""

from django.db import migrations, models

TRIGGER = "billing_ledger_append_only"


def backfill(apps, schema_editor):
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute(f"ALTER TABLE billing_ledgerentry DISABLE TRIGGER {TRIGGER}")
    balances, batch = {}, []
    for entry in LedgerEntry.objects.order_by("id").only("id", "organization_id", "amount"):
        balance = balances.get(entry.organization_id, 0) + entry.amount
        balances[entry.organization_id] = entry.balance_after = balance
        batch.append(entry)
        if len(batch) == 1000:
            LedgerEntry.objects.bulk_update(batch, ["balance_after"])
            batch = []
    LedgerEntry.objects.bulk_update(batch, ["balance_after"])
    if postgresql:
        schema_editor.execute(f"ALTER TABLE billing_ledgerentry ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [("billing", "0017_call_log")]

    operations = [
        migrations.AddField(
            model_name="invoiceline",
            name="cache_write_tokens",
            field=models.BigIntegerField(default=0, verbose_name="cache write tokens"),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="balance_after",
            field=models.DecimalField(
                decimal_places=10,
                max_digits=28,
                null=True,
                editable=False,
                verbose_name="balance after",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="ledgerentry",
            name="balance_after",
            field=models.DecimalField(
                decimal_places=10, editable=False, max_digits=28, verbose_name="balance after"
            ),
        ),
    ]
