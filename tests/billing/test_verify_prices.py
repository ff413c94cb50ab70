"""manage.py verify_prices: every imported model priced by the portal as genai-prices'
calc_price prices it; a wrong price is listed with its reason and fails the run."""

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.catalog import services as catalog_services
from billing.catalog.models import CatalogModel
from billing.catalog.pricing import price_in_force
from tests.billing.imported_catalog import imported_catalog  # noqa: F401 (a fixture)
from tests.factories import ContractDiscountFactory, OrganizationFactory

# Every test works on the catalog imported once for the module.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("imported_catalog")]


def verify(*args) -> tuple[str, int]:
    """The command's output ending with its summary line, and its exit status."""
    out = StringIO()
    try:
        call_command("verify_prices", *args, stdout=out)
    except CommandError as error:
        return f"{out.getvalue()}{error}\n", error.returncode
    return out.getvalue(), 0


def compared(output: str) -> int:
    return int(re.search(r"(\d+) models compared", output)[1])


def instants():
    """Now, an hour outside DeepSeek's daytime window (16:30-00:30 UTC is off-peak) and a
    morning 20 days ago."""
    now = timezone.now()
    yesterday = (now - timedelta(days=1)).date()
    past = (now - timedelta(days=20)).date()
    return {
        "now": now,
        "off-peak": datetime(yesterday.year, yesterday.month, yesterday.day, 18, 5, tzinfo=UTC),
        "20 days ago": datetime(past.year, past.month, past.day, 3, 0, tzinfo=UTC),
    }


@pytest.mark.parametrize("when", ["now", "off-peak", "20 days ago"])
def test_every_imported_model_prices_as_genai_prices_does(when):
    output, status = verify("--models", "all", "--at", instants()[when].isoformat())
    assert status == 0, output
    assert re.search(r"\b0 differ\b", output)
    assert compared(output) >= 300


def version_from_tomorrow(model_id, **changes):
    """`model_id`'s current version copied to start tomorrow at 00:00 UTC, with `changes`, as a
    faulty import could write it."""
    model = CatalogModel.objects.get(model_id=model_id)
    version = price_in_force(model, timezone.now())
    assert version.source_entry == f"genai-prices:{model_id}"
    version.pk = None
    version.effective_from = datetime.combine(timezone.now().date(), time(), UTC) + timedelta(1)
    for name, value in changes.items():
        setattr(version, name, value)
    version.save()
    return version


def test_a_wrong_price_is_listed_with_its_class_and_fails():
    wrong = version_from_tomorrow("openai/gpt-4o", cached_input_price=Decimal("10.5"))
    both = "openai/gpt-4o,openai/gpt-4o-mini"
    at = (wrong.effective_from + timedelta(hours=1)).isoformat()
    output, status = verify("--models", both, "--at", at)
    assert status == 1
    assert "2 models compared with genai-prices, 1 match, 1 differ" in output
    lines = [line for line in output.splitlines() if line.startswith("openai/gpt-4o ")]
    assert lines  # each call that differs is listed
    for line in lines:
        assert "cache read at a" in line and "portal 10.50000000, genai-prices 9.00000000" in line
        assert "uncached input" not in line and "output at" not in line
    # The wrong price starts tomorrow: today both models agree.
    output, status = verify("--models", both)
    assert (status, compared(output)) == (0, 2)


@pytest.mark.parametrize(
    "model_id, changes, hour, reasons",
    [
        (
            "google/gemini-2.5-pro",
            {"conditions": {}},
            12,
            [
                "uncached input at a 200001-token prompt: portal 9.00000000, "
                "genai-prices 18.00000000 CNY per million",
                "genai-prices' prompt-size tier above 200000 tokens applies",
            ],
        ),
        (
            "deepseek/deepseek-chat",
            {"conditions": {}},
            3,
            ["03:00 UTC is inside genai-prices' time-of-day window 00:30-16:30 UTC"],
        ),
        (
            "perplexity/sonar",
            {"request_price": Decimal(0)},
            12,
            ["per-request fee: portal 0.00000000, genai-prices 0.08640000"],
        ),
    ],
    ids=["tier", "time window", "request fee"],
)
def test_a_missing_tier_window_or_fee_is_named(model_id, changes, hour, reasons):
    wrong = version_from_tomorrow(model_id, **changes)
    at = (wrong.effective_from + timedelta(hours=hour)).isoformat()
    output, status = verify("--models", model_id, "--at", at)
    assert status == 1
    for reason in reasons:
        assert reason in output


def test_a_manual_price_is_skipped_with_its_reason():
    model = CatalogModel.objects.get(model_id="openai/gpt-4o")
    catalog_services.add_price_version(
        actor=Actor.system(),
        model=model,
        effective_from=timezone.now() + timedelta(days=1),
        prices={
            "input_price": Decimal(1),
            "output_price": Decimal(2),
            "cached_input_price": Decimal(0),
            "cache_write_price": Decimal(0),
            "request_price": Decimal(0),
        },
    )
    at = (timezone.now() + timedelta(days=2)).isoformat()
    output, status = verify("--models", "openai/gpt-4o", "--at", at)
    assert status == 0
    assert "openai/gpt-4o: skipped, manual price" in output
    assert "0 models compared" in output and "(manual price: 1)" in output


def test_prices_are_compared_after_an_organizations_contract_discount():
    organization = OrganizationFactory()
    ContractDiscountFactory(organization=organization, percent=Decimal("12.5"))
    output, status = verify(
        "--models", "openai/gpt-4o,deepseek/deepseek-chat",
        "--organization", organization.public_id,
    )  # fmt: skip
    assert (status, compared(output)) == (0, 2), output


def test_the_first_n_models_by_id_are_checked():
    output, _ = verify("--models", "3")
    skipped = len(re.findall(r": skipped, ", output))
    assert compared(output) + skipped == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--at", "yesterday"], "--at: expected an ISO 8601 time"),
        (["--at", "2026-02-30"], "--at: expected an ISO 8601 time"),
        (["--at", "2026-11-20T25:00"], "--at: expected an ISO 8601 time"),
        (["--models", "0"], "--models: expected at least one model"),
        (["--models", "-3"], "--models: expected a number of models, 'all' or model ids"),
        (["--models", "lots"], "--models: expected a number of models, 'all' or model ids"),
        (["--models", "openai/no-such-model"], "No catalog model has the id(s) openai/no-such"),
        (["--organization", "org_nope"], "No organization has the id 'org_nope'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("verify_prices", *args, stdout=StringIO())


def test_a_date_or_a_time_without_offset_is_read_in_the_business_time_zone():
    assert "At 2026-11-20T00:00:00+08:00:" in verify("--models", "1", "--at", "2026-11-20")[0]
    output, _ = verify("--models", "1", "--at", "2026-11-20T09:30")
    assert "At 2026-11-20T09:30:00+08:00:" in output
