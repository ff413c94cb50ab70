import socket
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

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


def test_a_changed_price_creates_exactly_one_new_version_and_old_versions_keep_their_price():
    run_bundled()
    model = CatalogModel.objects.get(model_id="openai/gpt-4o")
    old = model.prices.get()
    entries = catalog_import.read_genai_prices(T1)
    for entry in entries:
        if getattr(entry, "model_id", None) == "openai/gpt-4o":
            entry.input_price += Decimal("0.5")
    summary = catalog_import.import_catalog(
        entries,
        source="genai-prices",
        usd_cny_rate=RATE,
        markup_percent=Decimal(0),
        effective_from=T2,
        actor=Actor.system(),
    )
    assert summary.versions_created == 1
    new = model.prices.get(effective_from=T2)
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


def test_time_of_day_prices_import_the_standard_rate():
    run_bundled()
    # genai-prices: 0.27 USD from 00:30 to 16:30 UTC, 0.135 USD off-peak.
    version = PriceVersion.objects.get(model__model_id="deepseek/deepseek-chat")
    assert version.input_price == Decimal("0.27") * RATE


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
    assert price.cache_write_price == 0
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
