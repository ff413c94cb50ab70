"""Check that every priced usage event is billed exactly once
(billing.invoicing.reconciliation; the operator's consolidated bill:
billing.managed.reconciliation)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from billing.invoicing.reconciliation import describe, pack_problems, verify_billing
from billing.managed.reconciliation import settlement_problems
from billing.management.commands.close_month import parse_month


class Command(BaseCommand):
    help = (
        "For every month, organization and invoice line group (department, project, model), "
        "compare the invoice lines billing that month's usage (its own invoice and adjustments "
        "on later ones) with its priced usage events: calls, unrounded cost, and the amount "
        "rounded once; list events on no invoice. Then every pack and plan allowance: "
        "granted = consumed + expired + remaining, as its entries say, and each event's "
        "coverage agrees with its draws. Then the operator's consolidated bill: per "
        "organization and month, its settlements bill no more usage than was charged, and "
        "each settlement row adds up. Exit 1 on a difference."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", metavar="YYYY-MM", help="First month to check.")
        parser.add_argument("--organization", metavar="org_...", help="One organization.")

    def handle(self, *args, since=None, organization=None, **options):
        org = None
        if organization:
            org = Organization.objects.filter(public_id=organization).first()
            if org is None:
                raise CommandError(_("No organization %(id)s.") % {"id": organization})
        first = parse_month(since) if since else None
        report = verify_billing(now=timezone.now(), since=first, organization=org)
        for problem in report.problems:
            self.stderr.write(describe(problem))
        packs = pack_problems()
        for problem in packs:
            self.stderr.write(problem)
        settled = settlement_problems(since=report.first_month, organization=org)
        for problem in settled:
            self.stderr.write(problem)
        if report.problems:
            raise CommandError(
                f"{len(report.problems)} of {report.groups} invoice line groups differ from "
                "their usage events, listed above."
            )
        if packs:
            raise CommandError(f"{len(packs)} pack differences, listed above.")
        if settled:
            raise CommandError(f"{len(settled)} settlement differences, listed above.")
        self.stdout.write(
            f"Every usage event is billed once: {report.groups} groups agree; "
            f"{report.pending} events wait for the next invoice."
        )
