"""Load providers, models and prices into the catalog (docs/pricing-and-billing.md)."""

from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.catalog import importer


class Command(BaseCommand):
    help = (
        "Import models and prices from genai-prices' bundled data (default), an OpenRouter "
        "/api/v1/models response (--openrouter FILE) or a LiteLLM price file (--litellm FILE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--openrouter", metavar="FILE", help="OpenRouter /api/v1/models JSON")
        parser.add_argument("--litellm", metavar="FILE", help="LiteLLM price JSON")
        parser.add_argument(
            "--effective-from",
            metavar="YYYY-MM-DD",
            help=(
                "The earliest day (business time zone) of price history to import: the "
                "source's periods before it collapse into one version from this day. "
                "Default: the start of the usage acceptance window "
                "(USAGE_ACCEPTANCE_WINDOW_DAYS before now)."
            ),
        )
        parser.add_argument("--usd-cny-rate", default=None, help="Default: CATALOG_USD_CNY_RATE")
        parser.add_argument(
            "--markup-percent", default=None, help="Default: CATALOG_MARKUP_PERCENT"
        )

    def handle(self, *args, **options):
        effective_from = self._effective_from(options["effective_from"])
        rate = self._decimal(options["usd_cny_rate"], settings.CATALOG_USD_CNY_RATE, "rate")
        markup = self._decimal(options["markup_percent"], settings.CATALOG_MARKUP_PERCENT, "markup")
        if rate <= 0 or markup < 0:
            raise CommandError("The rate must be positive and the markup not negative.")
        sources = []
        if options["openrouter"]:
            document = self._read(options["openrouter"])
            sources.append(("openrouter", importer.read_openrouter(document)))
        if options["litellm"]:
            document = self._read(options["litellm"])
            sources.append(("litellm", importer.read_litellm(document)))
        if not sources:
            sources.append(("genai-prices", importer.read_genai_prices()))
        for source, entries in sources:
            summary = importer.import_catalog(
                entries,
                source=source,
                usd_cny_rate=rate,
                markup_percent=markup,
                effective_from=effective_from,
                actor=Actor.system(),
            )
            self.stdout.write(self.style.SUCCESS(f"Imported from {source} at {rate} CNY/USD"))
            for line in summary.lines():
                self.stdout.write(line)

    def _read(self, path):
        try:
            return importer.parse_json(Path(path).read_bytes())
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        except ValidationError as error:  # not JSON: say where the parser stopped
            raise CommandError(f"Cannot read {path}: {error.__cause__}") from error

    def _decimal(self, raw, default, name):
        try:
            return default if raw is None else Decimal(raw)
        except InvalidOperation as error:
            raise CommandError(f"The {name} must be a number, got {raw!r}.") from error

    def _effective_from(self, raw):
        if not raw:
            # Late usage is accepted this far back: its prices must be there on a new shelf.
            return timezone.now() - timedelta(days=settings.USAGE_ACCEPTANCE_WINDOW_DAYS)
        try:
            day = datetime.strptime(raw, "%Y-%m-%d").date()
        except ValueError as error:
            raise CommandError("--effective-from must be a date: YYYY-MM-DD.") from error
        return datetime.combine(day, time(), tzinfo=ZoneInfo(settings.BUSINESS_TIME_ZONE))
