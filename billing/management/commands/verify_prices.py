"""Price a synthetic call of each catalog model with the portal and with genai-prices'
calc_price, and list every difference (docs/pricing-and-billing.md#verifying-prices)."""

from argparse import ArgumentTypeError
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Organization
from billing.catalog import audit


def model_selection(raw: str) -> dict:
    """check_catalog's selection: all models, the first N by id, or the listed ids."""
    if raw == "all":
        return {}
    if raw.isdigit():
        if int(raw) == 0:
            raise ArgumentTypeError("expected at least one model, got 0")
        return {"first": int(raw)}
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids or any("/" not in model_id for model_id in ids):
        raise ArgumentTypeError(
            f"expected a number of models, 'all' or model ids such as openai/gpt-4o, got {raw!r}"
        )
    return {"model_ids": ids}


def instant(raw: str) -> datetime:
    """An ISO 8601 time or date; without a UTC offset it is in BUSINESS_TIME_ZONE."""
    try:
        at = parse_datetime(raw)  # a date alone is its midnight
    except ValueError:  # well formed but impossible, e.g. 2026-11-20T25:00
        at = None
    if at is None:
        raise ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-11-20T03:00:00+08:00, got {raw!r}"
        )
    if timezone.is_naive(at):
        at = at.replace(tzinfo=ZoneInfo(settings.BUSINESS_TIME_ZONE))
    return at


class Command(BaseCommand):
    help = (
        "Price a synthetic call (every token class, prompts either side of each size tier) of "
        "each catalog model priced from genai-prices, with the portal and with genai-prices' "
        "calc_price at the same instant and FX rate; list each difference over 0.000001 CNY "
        "with its reason. Exits 1 on any difference."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--models",
            type=model_selection,
            default={},
            metavar="N|all|ID,...",
            help="The first N models by id, all (the default), or these model ids.",
        )
        parser.add_argument(
            "--at",
            type=instant,
            default=None,
            metavar="DATETIME",
            help="When the calls are made (ISO 8601; no offset: BUSINESS_TIME_ZONE). Default: now.",
        )
        parser.add_argument(
            "--organization",
            metavar="ORG_ID",
            help="Price as this organization (public id), with its contract discounts.",
        )

    def handle(self, *args, **options):
        at = options["at"] or timezone.now()
        organization = None
        if options["organization"]:
            organization = Organization.objects.filter(public_id=options["organization"]).first()
            if organization is None:
                raise CommandError(f"No organization has the id {options['organization']!r}.")
        try:
            models = audit.catalog_models(**options["models"])
        except LookupError as error:
            raise CommandError(f"No catalog model has the id(s) {error}.") from error
        matching, differing, skipped = 0, 0, Counter()
        for model in models:
            check = audit.check_model(model, at=at, organization=organization)
            if check.skipped:
                skipped[check.skipped] += 1
                since = f" (version from {check.version.effective_from:%Y-%m-%d})"
                self.stdout.write(
                    f"{check.model_id}: skipped, {check.skipped}{since if check.version else ''}"
                )
            elif check.differences:
                differing += 1
                for difference in check.differences:
                    self.stdout.write(
                        f"{check.model_id} [{check.version.source_entry}]: {difference.tokens}: "
                        f"portal {difference.portal:.10f} CNY, genai-prices "
                        f"{difference.source:.10f} CNY; {'; '.join(difference.reasons)}"
                    )
            else:
                matching += 1
        reasons = ", ".join(f"{reason}: {n}" for reason, n in skipped.most_common())
        summary = (
            f"At {at.isoformat()}: {matching + differing} models compared with genai-prices, "
            f"{matching} match, {differing} differ; {sum(skipped.values())} skipped"
            + (f" ({reasons})" if reasons else "")
            + "."
        )
        if differing:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
