"""Bill now what stopped relay processes journaled and never billed (every relay process
also does it at start-up and every RELAY_USAGE_RECOVER_AFTER_SECONDS).

    python manage.py relay_recover_usage
With the Redis journal only entries older than RELAY_USAGE_RECOVER_AFTER_SECONDS are taken;
RELAY_USAGE_RECOVER_AFTER_SECONDS=0 takes every entry (a live process's too: harmless, a
request_id is billed once). With the file journal, the segments of RELAY_JOURNAL_DIR that no
live process holds.
"""

from django.core.management.base import BaseCommand

from relay.relay import recover_usage


class Command(BaseCommand):
    help = "Bill the relay usage that stopped relay processes journaled and never billed."

    def handle(self, *args, **options):
        self.stdout.write(f"{recover_usage()} journaled usage events replayed")
