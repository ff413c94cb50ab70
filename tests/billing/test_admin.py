from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from billing.catalog.models import CatalogModel, PriceVersion
from billing.catalog.pricing import price_event
from tests.factories import PriceVersionFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


@pytest.fixture
def staff(staff_user):
    return staff_user


def test_staff_change_a_price_from_a_date_and_the_history_shows_both(client, staff, priced_model):
    old = priced_model.prices.get()
    url = reverse("admin:billing_catalogmodel_new_price", args=[priced_model.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "effective_from_0": "2026-12-01",
            "effective_from_1": "00:00:00",
            "input_price": "1.5",
            "output_price": "6",
            "cached_input_price": "0.3",
            "cache_write_price": "0",
        },
    )
    assert response.status_code == 302
    new = priced_model.prices.exclude(pk=old.pk).get()
    assert (new.input_price, new.source, new.created_by) == (Decimal("1.5"), "manual", staff)
    old.refresh_from_db()
    assert old.input_price == 2
    page = client.get(f"/models/{priced_model.model_id}/")
    assert [v.input_price for v, _conditions in page.context["history"]] == [
        Decimal("1.5"),
        Decimal("2"),
    ]


def test_a_staff_price_without_a_cache_price_charges_cached_tokens_at_the_input_price(
    client, staff, priced_model
):
    url = reverse("admin:billing_catalogmodel_new_price", args=[priced_model.pk])
    data = {"effective_from_0": "2027-01-01", "effective_from_1": "00:00:00"}
    data |= {"input_price": "4", "output_price": "6", "request_price": "0.05"}
    data |= {"cached_input_price": "", "cache_write_price": "0"}  # none; free
    assert client.post(url, data).status_code == 302
    new = priced_model.prices.get(effective_from__year=2027)
    assert (new.cached_input_price, new.cache_write_price) == (None, 0)
    at = new.effective_from
    cost = price_event(
        organization=None, model=priced_model, at=at, input_tokens=0, output_tokens=0,
        cached_input_tokens=10**6, cache_write_tokens=10**6,
    )  # fmt: skip
    assert cost == Decimal("4.05")  # the input price for the cached million, plus the fee


def test_a_started_version_is_read_only_in_the_admin(client, staff, priced_model):
    version = priced_model.prices.get()
    url = reverse("admin:billing_priceversion_change", args=[version.pk])
    response = client.post(url, {"model": priced_model.pk, "input_price": "1"})
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.input_price == 2
    delete = reverse("admin:billing_priceversion_delete", args=[version.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert PriceVersion.objects.filter(pk=version.pk).exists()


def test_a_future_version_can_be_corrected_in_the_admin(client, staff, priced_model):
    future = PriceVersionFactory(
        model=priced_model, effective_from=datetime(2099, 1, 1, tzinfo=UTC)
    )
    url = reverse("admin:billing_priceversion_change", args=[future.pk])
    assert client.get(url).status_code == 200


def test_staff_import_an_uploaded_file(client, staff):
    with open(DATA / "openrouter_models.json", "rb") as upload:
        response = client.post(
            reverse("admin:billing_catalogmodel_import"),
            {"format": "openrouter", "file": upload},
        )
    assert response.status_code == 302
    assert CatalogModel.objects.get(model_id="openai/gpt-4o").prices.get().input_price == 18
    assert PriceVersion.objects.filter(created_by=staff).count() == 4


def test_an_upload_that_is_not_json_changes_nothing(client, staff, tmp_path):
    bad = tmp_path / "prices.json"
    bad.write_text("<html>")
    with open(bad, "rb") as upload:
        response = client.post(
            reverse("admin:billing_catalogmodel_import"), {"format": "litellm", "file": upload}
        )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not CatalogModel.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["provider", "catalogmodel", "priceversion", "contractdiscount"],
)
def test_the_admin_lists_render(client, staff, priced_model, name):
    assert client.get(reverse(f"admin:billing_{name}_changelist")).status_code == 200


def test_the_model_admin_page_shows_aliases_and_history(client, staff, priced_model):
    response = client.get(reverse("admin:billing_catalogmodel_change", args=[priced_model.pk]))
    assert response.status_code == 200
    assert b"New price from a date" in response.content
