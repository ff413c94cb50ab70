"""PostgreSQL refuses what the models refuse, for raw SQL too: no UPDATE/DELETE of ledger
entries; an issued invoice changes only its FROZEN_EXCEPT columns along TRANSITIONS;
lines of an issued invoice never change. (SQLite relies on the model layer.)"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION billing_ledger_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger entries are append-only';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_ledger_append_only BEFORE UPDATE OR DELETE ON billing_ledgerentry
  FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();

CREATE FUNCTION billing_invoice_frozen() RETURNS trigger AS $$
DECLARE
  free text[] := ARRAY['status', 'paid_at', 'voided_at', 'void_reason',
                       'due_soon_sent_at', 'overdue_sent_at'];
BEGIN
  IF OLD.status = 'draft' THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'issued invoice % is frozen', OLD.number;
  END IF;
  IF (to_jsonb(NEW) - free) IS DISTINCT FROM (to_jsonb(OLD) - free)
     OR (NEW.status <> OLD.status
         AND (OLD.status, NEW.status) NOT IN (('issued', 'paid'), ('issued', 'void'))) THEN
    RAISE EXCEPTION 'issued invoice % is frozen', OLD.number;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE OR DELETE ON billing_invoice
  FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen();

CREATE FUNCTION billing_invoiceline_frozen() RETURNS trigger AS $$
DECLARE
  row_invoice bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
BEGIN
  IF (SELECT status FROM billing_invoice WHERE id = row_invoice) <> 'draft' THEN
    RAISE EXCEPTION 'lines of an issued invoice are frozen';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoiceline_frozen BEFORE INSERT OR UPDATE OR DELETE
  ON billing_invoiceline FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_frozen();
"""

BACKWARD = """
DROP TRIGGER billing_invoiceline_frozen ON billing_invoiceline;
DROP FUNCTION billing_invoiceline_frozen();
DROP TRIGGER billing_invoice_frozen ON billing_invoice;
DROP FUNCTION billing_invoice_frozen();
DROP TRIGGER billing_ledger_append_only ON billing_ledgerentry;
DROP FUNCTION billing_ledger_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)  # no parameters: "%" in RAISE stays as it is

    return run


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_ledger_invoices")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
