from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.factories import (
    CatalogModelFactory,
    ModelAliasFactory,
    PriceVersionFactory,
    ProviderFactory,
)

pytestmark = pytest.mark.django_db


def test_the_model_list_is_public_paginated_and_filtered(client, priced_model):
    qwen = ProviderFactory(slug="qwen", region="cn")
    filed = CatalogModelFactory(model_id="qwen/qwen-max", provider=qwen, is_filed=True)
    PriceVersionFactory(model=filed, input_price=Decimal("17.28"))
    response = client.get("/api/v1/models", {"is_filed": "true", "limit": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["model_id"] == "qwen/qwen-max"
    assert item["provider"] == {"slug": "qwen", "name": "Qwen", "region": "cn", "website": ""}
    assert item["list_price"]["input_per_million"] == "17.280000000000"  # 12 places
    assert item["list_price"]["currency"] == "CNY"
    assert client.get("/api/v1/models", {"sort": "-price"}).json()["results"][0]["model_id"] == (
        "qwen/qwen-max"
    )


def test_a_bad_filter_is_a_400_in_the_error_shape(client, priced_model):
    response = client.get("/api/v1/models", {"region": "mars"})
    assert response.status_code == 400
    assert "region" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "identifier", ["deepseek/deepseek-chat", "deepseek-chat", "org/v2.5-72b:beta"]
)
def test_one_model_by_an_id_with_slashes_dots_or_an_alias(client, priced_model, identifier):
    ModelAliasFactory(alias="deepseek-chat", model=priced_model)
    ModelAliasFactory(alias="org/v2.5-72b:beta", model=priced_model)
    PriceVersionFactory(
        model=priced_model, effective_from=datetime(2026, 5, 1, tzinfo=UTC), input_price=3
    )
    response = client.get(f"/api/v1/models/{identifier}")
    assert response.status_code == 200
    body = response.json()
    assert body["model_id"] == "deepseek/deepseek-chat"
    assert [Decimal(v["input_price"]) for v in body["price_history"]] == [3, 2]
    assert set(body["aliases"]) == {"deepseek-chat", "org/v2.5-72b:beta"}


def test_an_unknown_model_is_a_404(client, priced_model):
    response = client.get("/api/v1/models/no/such.model")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_model_endpoints_are_in_the_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/models" in schema["paths"]
    assert "/api/v1/models/{model_id}" in schema["paths"]
    assert "/api/v1/model-policies" in schema["paths"]
    parameters = {p["name"] for p in schema["paths"]["/api/v1/models"]["get"]["parameters"]}
    assert {"q", "provider", "region", "capability", "modality", "is_filed", "sort"} <= parameters


def test_the_api_list_query_count_is_pinned(client, priced_model, django_assert_num_queries):
    for n in range(20):
        PriceVersionFactory(model=CatalogModelFactory(model_id=f"more/model-{n}"))
    with django_assert_num_queries(2):  # count, one page of models with providers and prices
        assert client.get("/api/v1/models").status_code == 200
