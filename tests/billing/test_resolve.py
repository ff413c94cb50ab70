import pytest

from billing.catalog.models import ModelAlias
from billing.catalog.selectors import resolve_model
from tests.factories import ModelAliasFactory

pytestmark = pytest.mark.django_db


def test_a_model_is_reached_by_its_id_and_its_aliases_in_one_query(
    priced_model, django_assert_num_queries
):
    ModelAliasFactory(alias="deepseek-chat", model=priced_model)
    ModelAliasFactory(alias="deepseek-v3-20250324", model=priced_model)
    for identifier in ("deepseek/deepseek-chat", "deepseek-chat", "deepseek-v3-20250324"):
        with django_assert_num_queries(1):
            model = resolve_model(identifier)
            assert model == priced_model
            assert model.provider.slug == "deepseek"  # loaded in the same query


def test_an_unknown_id_resolves_to_nothing(priced_model):
    assert resolve_model("deepseek/deepseek-chat-nope") is None


def test_an_alias_may_not_shadow_another_models_id(priced_model):
    from django.core.exceptions import ValidationError

    from tests.factories import CatalogModelFactory

    other = CatalogModelFactory(model_id="qwen/qwen-max")
    with pytest.raises(ValidationError):
        ModelAlias(alias="deepseek/deepseek-chat", model=other).full_clean()
