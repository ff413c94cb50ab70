"""Check the ledger: every running balance against the sum of its entries, and every invoice
settled from a prepaid balance against what the ledger drew for it."""

from django.core.management.base import BaseCommand, CommandError

from billing.invoicing import ledger


class Command(BaseCommand):
    help = (
        "Compare each running ledger balance with the exact sum of its entries, and each "
        "prepaid invoice's total with the usage charges, VAT and rounding the ledger drew for it."
    )

    def handle(self, *args, **options):
        problems = []
        for org_id, running, total in ledger.unbalanced_organizations():
            problems.append(f"organization {org_id}: running {running}, entries sum {total}")
        for invoice, total, drawn in ledger.unreconciled_invoices():
            problems.append(
                f"invoice {invoice.number} (organization {invoice.organization_id}): "
                f"total {total}, the ledger drew {drawn}"
            )
        for org_id, billed, charged in ledger.uncharged_settled_usage():
            problems.append(
                f"organization {org_id}: prepaid invoices bill {billed} of usage, "
                f"the ledger charged {charged}"
            )
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger mismatch(es), listed above.")
        self.stdout.write(
            "Every running balance equals the sum of its ledger entries, and every prepaid "
            "invoice equals what the ledger drew for it."
        )
