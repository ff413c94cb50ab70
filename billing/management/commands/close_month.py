"""Close a month for one organization and issue its invoice (as the staff console's
"Close month…")."""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor
from accounts.models import Organization
from billing.invoicing import services as invoicing


def parse_month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise CommandError(
            _("%(month)s is not a month: YYYY-MM, e.g. 2026-11.") % {"month": text}
        ) from None


class Command(BaseCommand):
    help = (
        "Close MONTH (YYYY-MM, ended) for the organization ORG (its public id, org_...) and "
        "issue the invoice: its usage, and as adjustments the late usage of earlier months "
        "no invoice bills yet. Refused when the month's invoice is already issued or void."
    )

    def add_arguments(self, parser):
        parser.add_argument("organization", metavar="ORG")
        parser.add_argument("month", metavar="YYYY-MM")

    def handle(self, *args, organization, month, **options):
        org = Organization.objects.filter(public_id=organization).first()
        if org is None:
            raise CommandError(_("No organization %(id)s.") % {"id": organization})
        try:
            invoice = invoicing.close_and_issue_month(
                actor=Actor.system(), organization=org, month=parse_month(month),
                now=timezone.now(),
            )  # fmt: skip
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if invoice is None:
            self.stdout.write(_("Nothing to bill for %(month)s.") % {"month": month})
        else:
            self.stdout.write(
                _("Invoice %(number)s issued: %(total)s %(currency)s.")
                % {"number": invoice.number, "total": invoice.total_amount,
                   "currency": invoice.currency}
            )  # fmt: skip
