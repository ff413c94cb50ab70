"""Property: any call of any imported model, at any time of day in the usage acceptance window,
costs what genai-prices' calc_price says at the import's FX rate, less the organization's
contract discount, to 10^-8 CNY; and ingestion stores that cost at its column's scale."""

import itertools
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from genai_prices import Usage
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.catalog.audit import genai_entry
from billing.catalog.models import CatalogModel
from billing.catalog.pricing import price_event, price_in_force
from billing.metering.models import UsageEvent
from billing.metering.services import COST_SCALE, ingest_usage
from tests.billing.imported_catalog import imported_catalog  # noqa: F401 (a fixture)
from tests.factories import ApiKeyFactory, ContractDiscountFactory

# Every test works on the catalog imported once for the module.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("imported_catalog")]

TOLERANCE = Decimal("1e-8")
# What import_catalog converted at (its defaults).
CNY_PER_USD = settings.CATALOG_USD_CNY_RATE * (100 + settings.CATALOG_MARKUP_PERCENT) / 100
WINDOW_SECONDS = settings.USAGE_ACCEPTANCE_WINDOW_DAYS * 86_400 - 600
_request_ids = itertools.count()


@pytest.fixture
def key():
    return ApiKeyFactory()


@pytest.fixture
def model_ids():
    return list(CatalogModel.objects.order_by("model_id").values_list("model_id", flat=True))


@st.composite
def calls(draw, model_ids):
    """(model id, seconds ago, token counts, discount %)."""
    prompt = draw(st.integers(0, 400_000))
    cached = draw(st.just(0) | st.integers(0, prompt))
    written = draw(st.just(0) | st.integers(0, prompt - cached))
    tokens = {
        "input_tokens": prompt - cached - written,
        "cached_input_tokens": cached,
        "cache_write_tokens": written,
        "output_tokens": draw(st.integers(0, 100_000)),
    }
    model_id = draw(st.sampled_from(model_ids))
    return (
        model_id,
        draw(st.integers(0, WINDOW_SECONDS)),
        tokens,
        draw(st.decimals(0, 100, places=2)),
    )


def genai_usd(version, at, tokens) -> Decimal:
    """What genai-prices charges for the call: its input_tokens include the cache's."""
    provider, entry = genai_entry(version.source_entry)
    usage = Usage(
        input_tokens=tokens["input_tokens"]
        + tokens["cached_input_tokens"]
        + tokens["cache_write_tokens"],
        cache_read_tokens=tokens["cached_input_tokens"],
        cache_write_tokens=tokens["cache_write_tokens"],
        output_tokens=tokens["output_tokens"],
    )
    return entry.calc_price(usage, provider, genai_request_timestamp=at).total_price


def assert_priced_as_genai_prices(key, model_id, at, tokens, percent):
    """price_event and ingestion charge the call what genai-prices does, less `percent`."""
    model = CatalogModel.objects.get(model_id=model_id)
    version = price_in_force(model, at)
    # Converted as the import was told to.
    assert version.fx_rate == settings.CATALOG_USD_CNY_RATE
    assert (version.markup_percent or 0) == settings.CATALOG_MARKUP_PERCENT
    expected = genai_usd(version, at, tokens) * CNY_PER_USD * (100 - percent) / 100
    with transaction.atomic():
        organization = key.project.organization
        ContractDiscountFactory(
            organization=organization, percent=percent, valid_from=at.date() - timedelta(days=1)
        )
        cost = price_event(organization=organization, model=model, at=at, **tokens)
        assert abs(cost - expected) <= TOLERANCE, (cost, expected)

        request_id = f"fidelity-{next(_request_ids)}"
        event = {"request_id": request_id, "key_id": key.public_id, "model": model_id}
        ingest_usage(events=[{**event, **tokens, "occurred_at": at.isoformat()}])
        stored = UsageEvent.objects.get(request_id=request_id)
        assert stored.cost_amount == cost.quantize(COST_SCALE, ROUND_HALF_UP)
        assert stored.discount_percent == percent
        transaction.set_rollback(True)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_call_costs_what_genai_prices_says_less_the_discount(key, model_ids, data):
    model_id, ago, tokens, percent = data.draw(calls(model_ids))
    at = timezone.now() - timedelta(seconds=ago)
    assert_priced_as_genai_prices(key, model_id, at, tokens, percent)


def mix(uncached, cached=0, written=0, output=0):
    return {
        "input_tokens": uncached,
        "cached_input_tokens": cached,
        "cache_write_tokens": written,
        "output_tokens": output,
    }


@pytest.mark.parametrize(
    "model_id, hour, call",
    [
        ("openai/davinci", 12, mix(12_345, 5_000, 0, 2_345)),  # cache read at the input price
        ("anthropic/claude-sonnet-4-5", 12, mix(1_000, 8_000, 3_000, 500)),
        ("google/gemini-2.5-pro", 12, mix(150_000, 50_000, 0, 1_000)),  # 200,000: base tier
        ("google/gemini-2.5-pro", 12, mix(150_001, 50_000, 0, 1_000)),  # above: the tier
        ("deepseek/deepseek-chat", 2, mix(10_000, 4_000, 0, 900)),  # daytime window
        ("deepseek/deepseek-chat", 20, mix(10_000, 4_000, 0, 900)),  # off-peak
        ("deepseek/deepseek-v4-flash", 3, mix(10_000, 4_000, 0, 900)),  # peak window
        ("perplexity/sonar", 12, mix(0)),  # the request fee alone
    ],
)
def test_named_calls_cost_what_genai_prices_says(key, model_id, hour, call):
    yesterday = timezone.now().date() - timedelta(days=1)
    at = datetime.combine(yesterday, time(hour, 15), UTC)
    assert_priced_as_genai_prices(key, model_id, at, call, Decimal("7.5"))
