from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.catalog.models import CatalogModel, Provider
from tests.factories import (
    CatalogModelFactory,
    ContractDiscountFactory,
    PriceVersionFactory,
    ProviderFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(priced_model):
    """Three more models: a filed Chinese one, a vision one, a cheap one with dots in its id."""
    qwen = ProviderFactory(slug="qwen", name="Qwen", region=Provider.Region.CHINA)
    openai = ProviderFactory(slug="openai", name="OpenAI", region=Provider.Region.INTERNATIONAL)
    models = {
        "qwen": CatalogModelFactory(
            model_id="qwen/qwen-max", provider=qwen, display_name="Qwen Max", is_filed=True,
            context_window=32_000,
        ),
        "gpt": CatalogModelFactory(
            model_id="openai/gpt-4o", provider=openai, display_name="GPT-4o",
            supports_vision=True, input_modalities=["text", "image"], context_window=128_000,
        ),
        "mini": CatalogModelFactory(
            model_id="qwen/qwen2.5-7b-instruct", provider=qwen, display_name="Qwen2.5 7B",
            context_window=8_000,
        ),
    }  # fmt: skip
    at = datetime(2026, 1, 1, tzinfo=UTC)
    PriceVersionFactory(model=models["qwen"], effective_from=at, input_price=Decimal("17.28"))
    PriceVersionFactory(model=models["gpt"], effective_from=at, input_price=Decimal("18"))
    PriceVersionFactory(model=models["mini"], effective_from=at, input_price=Decimal("0.288"))
    return models


def ids(response):
    return [m.model_id for m in response.context["page_obj"]]


def test_the_catalog_is_public_and_listed_in_the_navigation(client, shelf):
    response = client.get(reverse("billing:catalog"))
    assert response.status_code == 200
    assert len(ids(response)) == 4
    assert b'href="/models/"' in response.content
    assert "¥17.28".encode() in response.content


def test_filters_narrow_the_list(client, shelf):
    url = reverse("billing:catalog")
    assert ids(client.get(url, {"region": "cn", "is_filed": "true"})) == ["qwen/qwen-max"]
    assert ids(client.get(url, {"capability": "vision"})) == ["openai/gpt-4o"]
    assert ids(client.get(url, {"modality": "image"})) == ["openai/gpt-4o"]
    assert ids(client.get(url, {"provider": "deepseek"})) == ["deepseek/deepseek-chat"]
    assert ids(client.get(url, {"q": "max"})) == ["qwen/qwen-max"]
    assert set(ids(client.get(url, {"min_price": "1", "max_price": "17.5"}))) == {
        "deepseek/deepseek-chat",
        "qwen/qwen-max",
    }


def test_sorting_by_price_context_and_name(client, shelf):
    url = reverse("billing:catalog")
    assert ids(client.get(url, {"sort": "price"}))[0] == "qwen/qwen2.5-7b-instruct"
    assert ids(client.get(url, {"sort": "-price"}))[0] == "openai/gpt-4o"
    assert ids(client.get(url, {"sort": "-context"}))[0] == "deepseek/deepseek-chat"  # 128k first
    assert ids(client.get(url, {"sort": "name"}))[0] == "deepseek/deepseek-chat"


def test_the_list_paginates_and_keeps_the_filters(client, priced_model):
    for n in range(30):
        CatalogModelFactory(model_id=f"deepseek/extra-{n:02d}", provider=priced_model.provider)
    response = client.get(reverse("billing:catalog"), {"provider": "deepseek"})
    assert len(ids(response)) == 25
    assert b"?provider=deepseek&amp;page=2" in response.content
    assert (
        len(ids(client.get(reverse("billing:catalog"), {"provider": "deepseek", "page": 2}))) == 6
    )


def test_the_list_view_query_count_is_pinned(client, shelf, django_assert_num_queries):
    for n in range(20):
        CatalogModelFactory(model_id=f"more/model-{n}")
    # count, page of models with providers and prices, providers for the filter's select
    with django_assert_num_queries(3):
        client.get(reverse("billing:catalog"))


def test_retired_models_are_not_on_the_shelf(client, shelf):
    CatalogModel.objects.filter(model_id="openai/gpt-4o").update(status="retired")
    assert "openai/gpt-4o" not in ids(client.get(reverse("billing:catalog")))


def test_the_model_page_shows_the_price_history_with_dots_and_slashes_in_the_id(client, shelf):
    model = shelf["mini"]
    PriceVersionFactory(
        model=model, effective_from=datetime(2026, 3, 1, tzinfo=UTC), input_price=Decimal("0.5")
    )
    response = client.get(f"/models/{model.model_id}/")
    assert response.status_code == 200
    assert [v.input_price for v, _conditions in response.context["history"]] == [
        Decimal("0.5"),
        Decimal("0.288"),
    ]
    assert b"2026-03-01" in response.content
    assert client.get("/models/qwen/nope/").status_code == 404


def test_the_calculator_uses_list_prices_for_visitors(client, priced_model):
    response = client.get(
        f"/models/{priced_model.model_id}/", {"input_tokens": 1_000_000, "output_tokens": 500_000}
    )
    assert response.context["estimate"] == Decimal("6")  # 2 + 0.5 * 8
    assert "¥6".encode() in response.content


def test_the_calculator_applies_the_members_contract_discount(client, priced_model, owner):
    ContractDiscountFactory(organization=owner.organization, percent=Decimal("12.5"))
    client.force_login(owner.user)
    response = client.get(
        f"/models/{priced_model.model_id}/", {"input_tokens": 1_000_000, "output_tokens": 500_000}
    )
    assert response.context["estimate"] == Decimal("5.25")
    assert response.context["price"].discount_percent == Decimal("12.5")


def test_compare_shows_up_to_four_models_side_by_side(client, shelf):
    url = reverse("billing:compare")
    response = client.get(url, {"model": ["openai/gpt-4o", "qwen/qwen-max"]})
    assert [m.model_id for m in response.context["models"]] == ["openai/gpt-4o", "qwen/qwen-max"]
    assert b"GPT-4o" in response.content and b"Qwen Max" in response.content
    CatalogModelFactory(model_id="fifth/model")
    five = [*shelf_ids(shelf), "deepseek/deepseek-chat", "fifth/model"]
    response = client.get(url, {"model": five})
    assert len(response.context["models"]) == 4
    assert "Up to four" in response.content.decode()


def shelf_ids(shelf):
    return [m.model_id for m in shelf.values()]


def test_the_pages_speak_chinese(client, priced_model):
    response = client.get(reverse("billing:catalog"), headers={"accept-language": "zh-hans"})
    assert "搜索和筛选".encode() in response.content
    assert "元/百万".encode() in response.content


CONDITIONS = {
    "tiers": {"input": [[200000, "18.000000000000"]]},
    "windows": [
        {
            "start": "01:00:00",
            "end": "04:00:00",
            "zone": "UTC",
            "prices": {"input": "2.16", "output": "8.64", "cached_input": None, "request": "0"},
        }
    ],
}


def test_the_model_page_and_api_show_tiers_windows_and_the_request_fee(client, shelf):
    model = shelf["mini"]
    PriceVersionFactory(
        model=model, effective_from=datetime(2026, 3, 1, tzinfo=UTC), cached_input_price=None,
        request_price=Decimal("0.0864"), conditions=CONDITIONS,
    )  # fmt: skip
    page = client.get(f"/models/{model.model_id}/").content.decode()
    assert "prompts over 200,000 tokens: input ¥18" in page
    assert "01:00 to 04:00 UTC: input ¥2.16, output ¥8.64" in page
    assert "cached input at the input price" in page
    assert "¥0.0864" in page
    detail = client.get(f"/api/v1/models/{model.model_id}").json()
    latest = detail["price_history"][0]
    assert latest["conditions"] == CONDITIONS
    assert Decimal(latest["request_price"]) == Decimal("0.0864")
    assert latest["cached_input_price"] is None
    assert detail["list_price"]["conditional"] is True
