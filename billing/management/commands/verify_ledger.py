"""Check every organization's running balance against the sum of its ledger entries."""

from django.core.management.base import BaseCommand, CommandError

from billing import ledger


class Command(BaseCommand):
    help = "Compare each running ledger balance with the exact sum of its entries."

    def handle(self, *args, **options):
        mismatches = ledger.unbalanced_organizations()
        for org_id, running, total in mismatches:
            self.stderr.write(f"organization {org_id}: running {running}, entries sum {total}")
        if mismatches:
            raise CommandError(f"{len(mismatches)} running balance(s) disagree with the ledger.")
        self.stdout.write("Every running balance equals the sum of its ledger entries.")
