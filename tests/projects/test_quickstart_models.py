"""The quickstart's model picker lists the chat models a key may call: the catalog's callable
chat models, narrowed by the key's model list and the organization's and its departments'
model policies (the authorize checks themselves), on the key page and the project page."""

import re

import pytest

from billing.catalog import services as catalog_services
from billing.catalog.models import CatalogModel, ModelPolicy
from projects import services
from tests.factories import CatalogModelFactory, as_actor

pytestmark = pytest.mark.django_db


def offered(page: str) -> list[str]:
    picker = re.search(r'<select id="qs-model".*?</select>', page, re.DOTALL)
    return re.findall(r'<option value="([^"]+)"', picker.group(0)) if picker else []


@pytest.fixture
def shelf(catalog):
    """chat-1, chat-2 (callable chats), old-1 (retired), embed-1 (an embedding model)."""
    CatalogModelFactory(model_id="embed-1", kind=CatalogModel.Kind.EMBEDDING)
    return catalog


def deny(owner, *models, department=None, capture):
    with capture(execute=True):
        catalog_services.save_model_policy(
            actor=as_actor(owner),
            policy=ModelPolicy(
                organization=owner.organization, department=department, mode=ModelPolicy.Mode.DENY
            ),
            catalog_models=list(models),
            providers=[],
        )


def test_the_key_page_offers_the_callable_chat_models(client_of, owner, project_a, shelf, settings):
    settings.RELAY_PUBLIC_URL = "https://relay.example.invalid/v1"
    key, _ = services.create_api_key(actor=as_actor(owner), project=project_a, name="k")
    page = client_of(owner).get(f"/projects/{project_a.public_id}/keys/{key.public_id}/")
    html = page.content.decode()
    assert offered(html) == ["chat-1", "chat-2"]
    assert "https://relay.example.invalid/v1/chat/completions" in html
    assert 'export TOKEN_PORTAL_API_KEY="YOUR_API_KEY"' in html  # the secret is not kept
    assert key.prefix in html


def test_the_key_model_list_and_the_policies_narrow_it(
    client_of, owner, project_a, shelf, departments, django_capture_on_commit_callbacks
):
    client = client_of(owner)
    key, _ = services.create_api_key(
        actor=as_actor(owner), project=project_a, name="k", allowed_models=["chat-2"]
    )
    url = f"/projects/{project_a.public_id}/keys/{key.public_id}/"
    assert offered(client.get(url).content.decode()) == ["chat-2"]
    project_url = f"/projects/{project_a.public_id}/"
    assert offered(client.get(project_url).content.decode()) == ["chat-1", "chat-2"]

    # A policy of the project's department's parent denies chat-2: neither page offers it.
    deny(owner, shelf["chat-2"], department=departments["ROOT"],
         capture=django_capture_on_commit_callbacks)  # fmt: skip
    assert offered(client.get(url).content.decode()) == []
    assert "This key may call no chat model" in client.get(url).content.decode()
    assert offered(client.get(project_url).content.decode()) == ["chat-1"]


def test_the_chosen_model_fills_the_examples(client_of, owner, project_a, shelf):
    page = client_of(owner).get(f"/projects/{project_a.public_id}/?model=chat-2").content.decode()
    assert '<option value="chat-2" selected>' in page
    assert '"model": "<span class="qs-model">chat-2</span>"' in page
    # A model the project may not call is not taken from the address.
    page = client_of(owner).get(f"/projects/{project_a.public_id}/?model=old-1").content.decode()
    assert '<span class="qs-model">chat-1</span>' in page


def test_the_show_once_page_fills_in_the_new_key(client_of, owner, project_a, shelf):
    response = client_of(owner).post(f"/projects/{project_a.public_id}/keys/new/", {"name": "n"})
    secret = response.context["secret"]
    assert f'export TOKEN_PORTAL_API_KEY="{secret}"' in response.content.decode()
    assert offered(response.content.decode()) == ["chat-1", "chat-2"]
    assert response["Cache-Control"] == "no-store"
