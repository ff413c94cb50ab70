import socket
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.catalog import importer as catalog_import
from billing.catalog.models import CatalogModel, ModelAlias, PriceVersion, Provider
from tests.factories import PriceVersionFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
RATE = Decimal("7.20")
T1 = datetime(2026, 11, 1, tzinfo=UTC)
T2 = datetime(2026, 11, 20, tzinfo=UTC)


def run_bundled(at=T1, rate=RATE):
    return catalog_import.import_catalog(
        catalog_import.read_genai_prices(at),
        source="genai-prices",
        usd_cny_rate=rate,
        markup_percent=Decimal(0),
        effective_from=at,
        actor=Actor.system(),
    )


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the import tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_bundled_data_gives_at_least_300_priced_chat_models_without_network(no_network):
    out = StringIO()
    call_command("import_catalog", "--effective-from", "2026-11-01", stdout=out)
    chat_with_prices = CatalogModel.objects.filter(
        kind=CatalogModel.Kind.CHAT, prices__input_price__gt=0
    ).distinct()
    assert chat_with_prices.count() >= 300
    assert "Models created:" in out.getvalue()
    assert "hosting platform" in out.getvalue()  # skipped, with the reason


def test_a_second_import_creates_nothing():
    first = run_bundled()
    counts = (Provider.objects.count(), CatalogModel.objects.count(), PriceVersion.objects.count())
    second = run_bundled()
    assert counts == (
        Provider.objects.count(),
        CatalogModel.objects.count(),
        PriceVersion.objects.count(),
    )
    assert second.versions_created == second.providers_created == second.models_created == 0
    assert second.models_updated == 0
    assert second.versions_unchanged == first.versions_created


def test_a_changed_price_applies_from_the_run_and_started_versions_keep_their_price():
    run_bundled()
    model = CatalogModel.objects.get(model_id="openai/gpt-4o")
    old = model.prices.get()
    entries = catalog_import.read_genai_prices(T1)
    for entry in entries:
        if getattr(entry, "model_id", None) == "openai/gpt-4o":
            entry.periods[-1].rates.input += Decimal("0.5")
    before_run = timezone.now()
    summary = catalog_import.import_catalog(
        entries,
        source="genai-prices",
        usd_cny_rate=RATE,
        markup_percent=Decimal(0),
        effective_from=T2,
        actor=Actor.system(),
    )
    assert summary.versions_created == 1
    # T2 is past and the T1 version has started (it may have priced usage): from the run.
    new = model.prices.get(effective_from__gte=before_run)
    assert new.input_price == old.input_price + Decimal("3.6")  # 0.5 USD at 7.20
    old.refresh_from_db()
    assert old.input_price == Decimal("18.00000000")  # 2.50 USD at 7.20, unchanged
    assert model.prices.count() == 2


def test_a_staff_price_stays_until_the_source_price_changes():
    run_bundled()
    model = CatalogModel.objects.get(model_id="deepseek/deepseek-chat")
    manual = PriceVersionFactory(
        model=model, effective_from=datetime(2026, 11, 10, tzinfo=UTC), input_price=1,
        output_price=1, source="manual",
    )  # fmt: skip
    run_bundled(at=T2)
    assert model.prices.order_by("-effective_from").first() == manual


def test_the_rate_and_markup_convert_exactly():
    assert catalog_import.to_cny(
        Decimal("2.5"), rate=Decimal("7.1234"), markup_percent=Decimal("12.5")
    ) == Decimal("20.03456250")


def test_chinese_makers_are_in_the_china_region():
    run_bundled()
    regions = dict(Provider.objects.values_list("slug", "region"))
    for slug in ("deepseek", "qwen", "moonshotai", "z-ai", "zhipuai", "minimax", "tencent"):
        assert regions[slug] == Provider.Region.CHINA, slug
    for slug in ("openai", "anthropic", "google", "mistralai"):
        assert regions[slug] == Provider.Region.INTERNATIONAL, slug


def test_time_of_day_prices_import_their_windows():
    run_bundled()
    # genai-prices: 0.27 USD from 00:30 to 16:30 UTC, 0.135 USD at other hours.
    version = PriceVersion.objects.get(model__model_id="deepseek/deepseek-chat")
    assert version.input_price == Decimal("0.135") * RATE
    [window] = version.conditions["windows"]
    assert (window["start"], window["end"], window["zone"]) == ("00:30:00", "16:30:00", "UTC")
    assert Decimal(window["prices"]["input"]) == Decimal("0.27") * RATE


def test_provider_native_ids_become_aliases():
    run_bundled()
    assert ModelAlias.objects.get(alias="deepseek-chat").model.model_id == "deepseek/deepseek-chat"


def test_the_openrouter_sample_imports_exactly():
    call_command(
        "import_catalog", "--openrouter", str(DATA / "openrouter_models.json"),
        "--effective-from", "2026-11-01", stdout=StringIO(),
    )  # fmt: skip
    gpt = CatalogModel.objects.get(model_id="openai/gpt-4o")
    price = gpt.prices.get()
    # 0.0000025 USD per token = 2.5 USD per million = 18 CNY at 7.20
    assert (price.input_price, price.output_price, price.cached_input_price) == (
        Decimal("18.00000000"),
        Decimal("72.00000000"),
        Decimal("9.00000000"),
    )
    assert price.cache_write_price is None  # not in the file: charged at the input price
    assert (gpt.context_window, gpt.max_output_tokens) == (128000, 16384)
    assert gpt.input_modalities == ["text", "image", "file"]
    assert gpt.supports_tools and gpt.supports_vision and gpt.supports_structured_output
    assert gpt.supports_prompt_caching and not gpt.supports_reasoning
    claude = CatalogModel.objects.get(model_id="anthropic/claude-sonnet-4.5")
    assert claude.prices.get().cache_write_price == Decimal("27.00000000")  # 3.75 USD
    assert claude.prices.get().cached_input_price == Decimal("2.16000000")  # 0.30 USD
    assert claude.supports_reasoning
    assert ModelAlias.objects.filter(alias="anthropic/claude-4.5-sonnet-20250929").exists()
    grok = CatalogModel.objects.get(model_id="x-ai/grok-4.1-fast").prices.get()
    assert grok.cached_input_price == Decimal("0.36000000")  # 0.05 USD
    assert not CatalogModel.objects.filter(model_id__in=["openrouter/auto"]).exists()
    assert not CatalogModel.objects.filter(model_id__endswith=":free").exists()
    assert Provider.objects.get(slug="x-ai").region == Provider.Region.INTERNATIONAL


def test_the_litellm_sample_imports_exactly():
    out = StringIO()
    call_command(
        "import_catalog", "--litellm", str(DATA / "model_prices_and_context_window.json"),
        "--usd-cny-rate", "7", "--effective-from", "2026-11-01", stdout=out,
    )  # fmt: skip
    gpt = CatalogModel.objects.get(model_id="openai/gpt-4o")
    price = gpt.prices.get()
    assert (price.input_price, price.output_price, price.cached_input_price) == (
        Decimal("17.50000000"),
        Decimal("70.00000000"),
        Decimal("8.75000000"),
    )
    assert (gpt.context_window, gpt.max_output_tokens) == (128000, 16384)
    assert gpt.supports_vision and gpt.supports_tools and gpt.supports_structured_output
    assert ModelAlias.objects.get(alias="gpt-4o").model == gpt
    claude = CatalogModel.objects.get(model_id="anthropic/claude-3-5-sonnet").prices.get()
    assert claude.cache_write_price == Decimal("26.25000000")  # 3.75e-06 per token
    embedding = CatalogModel.objects.get(model_id="openai/text-embedding-3-small")
    assert embedding.kind == CatalogModel.Kind.EMBEDDING
    assert embedding.prices.get().input_price == Decimal("0.14000000")  # 2e-08 per token
    assert not CatalogModel.objects.filter(model_id="openai/whisper-1").exists()
    assert "mode audio_transcription is not priced by the token" in out.getvalue()


def test_per_token_prices_never_pass_through_float():
    document = catalog_import.parse_json('{"m": {"input_cost_per_token": 1.1e-07}}')
    assert catalog_import.per_million(document["m"]["input_cost_per_token"]) == Decimal("0.11")


def test_a_bad_file_is_a_command_error_and_changes_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError):
        call_command("import_catalog", "--litellm", str(bad), stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("import_catalog", "--effective-from", "tomorrow", stdout=StringIO())
    assert not CatalogModel.objects.exists()


def run_history(effective_from):
    return catalog_import.import_catalog(
        catalog_import.read_genai_prices(),
        source="genai-prices",
        usd_cny_rate=RATE,
        markup_percent=Decimal(0),
        effective_from=effective_from,
        actor=Actor.system(),
    )


def starts_of(model_id):
    versions = PriceVersion.objects.filter(model__model_id=model_id).order_by("effective_from")
    return [(v.effective_from, v.input_price) for v in versions]


def test_the_price_history_becomes_one_version_per_source_period():
    run_history(datetime(2026, 8, 1, tzinfo=UTC))
    # genai-prices: 0.14 USD, from 2026-08-17 0.22 USD, from 2026-09-10 0.15 USD.
    assert starts_of("deepseek/deepseek-v4-flash") == [
        (datetime(2026, 8, 1, tzinfo=UTC), Decimal("0.14") * RATE),
        (datetime(2026, 8, 17, tzinfo=UTC), Decimal("0.22") * RATE),
        (datetime(2026, 9, 10, tzinfo=UTC), Decimal("0.15") * RATE),
    ]
    version = PriceVersion.objects.filter(model__model_id="deepseek/deepseek-v4-flash").first()
    assert version.source_entry == "genai-prices:deepseek/deepseek-v4-flash"
    assert (version.fx_rate, version.markup_percent) == (RATE, 0)


def test_periods_before_effective_from_collapse_into_one_version_from_that_day():
    run_history(datetime(2026, 9, 1, tzinfo=UTC))
    assert starts_of("deepseek/deepseek-v4-flash") == [
        (datetime(2026, 9, 1, tzinfo=UTC), Decimal("0.22") * RATE),
        (datetime(2026, 9, 10, tzinfo=UTC), Decimal("0.15") * RATE),
    ]


def test_re_importing_never_changes_a_started_version_and_fills_only_earlier_history():
    run_history(datetime(2026, 9, 1, tzinfo=UTC))
    started = {v.pk: v.input_price for v in PriceVersion.objects.all()}
    summary = run_history(datetime(2026, 8, 1, tzinfo=UTC))
    assert {v.pk: v.input_price for v in PriceVersion.objects.filter(pk__in=started)} == started
    # Before the first version nothing can have been priced: the history is filled in there.
    assert starts_of("deepseek/deepseek-v4-flash")[:2] == [
        (datetime(2026, 8, 1, tzinfo=UTC), Decimal("0.14") * RATE),
        (datetime(2026, 8, 17, tzinfo=UTC), Decimal("0.22") * RATE),
    ]
    assert summary.versions_created > 0
    again = run_history(datetime(2026, 8, 1, tzinfo=UTC))
    assert again.versions_created == 0


def test_the_makers_own_entry_wins_over_openrouters_list():
    run_history(T1)
    flash = PriceVersion.objects.get(model__model_id="google/gemini-2.0-flash-001")
    assert flash.source_entry == "genai-prices:google/gemini-2.0-flash"
    assert flash.cached_input_price == Decimal("0.025") * RATE  # OpenRouter's list has none
    opus = PriceVersion.objects.get(model__model_id="anthropic/claude-3-opus")
    assert opus.source_entry == "genai-prices:anthropic/claude-3-opus-latest"
    assert (opus.cached_input_price, opus.cache_write_price) == (
        Decimal("1.5") * RATE,
        Decimal("18.75") * RATE,
    )
    only_openrouter = PriceVersion.objects.filter(
        source_entry__startswith="genai-prices:openrouter/"
    )
    assert only_openrouter.exists()


def test_tiers_and_request_fees_are_imported():
    run_history(T1)
    pro = PriceVersion.objects.get(model__model_id="google/gemini-2.5-pro")
    assert pro.conditions["tiers"]["input"] == [[200000, str(to_12(Decimal("2.5") * RATE))]]
    sonar = PriceVersion.objects.get(model__model_id="perplexity/sonar")
    assert sonar.request_price == Decimal("0.012") * RATE
    assert sonar.cached_input_price is None


def to_12(value):
    return value.quantize(Decimal("1e-12"))


def test_a_period_dated_in_the_future_becomes_a_scheduled_version():
    run_history(T1)
    scheduled = PriceVersion.objects.filter(
        model__model_id="google/gemini-3.6-flash", effective_from=datetime(2027, 1, 1, tzinfo=UTC)
    ).get()
    assert not scheduled.has_started
    assert PriceVersion.objects.filter(model=scheduled.model).count() == 2
