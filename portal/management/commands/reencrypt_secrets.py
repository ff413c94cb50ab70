"""Re-encrypt every stored secret (webhook secrets, channel credentials) under the first key
of FIELD_ENCRYPTION_KEYS: the step after setting or rotating the keys (docs/operations.md)."""

from django.core.management.base import BaseCommand, CommandError

from portal import crypto


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        failed = 0
        for field, (done, unreadable) in crypto.reencrypt_stored_secrets().items():
            self.stdout.write(f"{field}: {done} re-encrypted, {unreadable} unreadable")
            failed += unreadable
        if failed:
            raise CommandError(
                f"{failed} secret(s) no configured key opens (FIELD_ENCRYPTION_KEYS, SECRET_KEY)."
            )
