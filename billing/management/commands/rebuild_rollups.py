from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from accounts.models import Organization
from billing.metering import services as metering
from portal.periods import business_zone


class Command(BaseCommand):
    help = "Recompute usage rollups from raw events (all, or one organization, from a date)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Public id of the organization.")
        parser.add_argument("--since", help="First business day to rebuild, YYYY-MM-DD.")

    def handle(self, *args, organization=None, since=None, **options):
        org = None
        if organization:
            org = Organization.objects.filter(public_id=organization).first()
            if org is None:
                raise CommandError(_("No organization %(id)s.") % {"id": organization})
        start = None
        if since:
            try:
                day = parse_date(since)
            except ValueError:
                day = None
            if day is None:
                raise CommandError(_("--since must be a date, YYYY-MM-DD."))
            start = datetime.combine(day, time(), tzinfo=business_zone())
        rows = metering.rebuild_rollups(organization=org, since=start)
        self.stdout.write(_("%(rows)d rollup rows rebuilt.") % {"rows": rows})
