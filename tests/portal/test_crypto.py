"""Stored secrets survive setting FIELD_ENCRYPTION_KEYS: what was encrypted under the key
derived from SECRET_KEY still decrypts, and reencrypt_secrets moves it under the first key."""

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.core.management import CommandError, call_command

from accounts.audit_trail import Actor
from accounts.permissions import Role
from notifications import webhooks
from notifications.models import WebhookEndpoint
from portal import crypto
from relay import services as gateway_services
from relay.models import Channel
from tests.conftest import closed_port
from tests.factories import MembershipFactory, as_actor

CLOSED_PORT = closed_port()  # webhook URLs of these tests: on this machine, nothing listens

NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def stored_under_the_derived_key(db, settings):
    """A webhook secret and a channel credential written while FIELD_ENCRYPTION_KEYS was
    empty (development, or production before it was required)."""
    settings.FIELD_ENCRYPTION_KEYS = []
    owner = MembershipFactory(role=Role.OWNER)
    endpoint, secret = webhooks.create_endpoint(
        actor=as_actor(owner),
        url=f"http://127.0.0.1:{CLOSED_PORT}/in",
        event_types=["quota.exceeded"],
    )
    channel = gateway_services.configure_channel(
        actor=Actor.system(),
        name="a",
        base_url="http://127.0.0.1:9/v1",
        credential="sk-a",
        models={},
    )
    return endpoint, secret, channel


def test_secrets_under_the_derived_key_still_decrypt_after_keys_are_set(
    stored_under_the_derived_key, settings
):
    endpoint, secret, channel = stored_under_the_derived_key
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert webhooks.signing_secret(WebhookEndpoint.objects.get(pk=endpoint.pk)) == secret
    assert crypto.decrypt(Channel.objects.get(pk=channel.pk).credential_encrypted) == "sk-a"
    # ... while new secrets are encrypted under the configured key.
    assert Fernet(NEW_KEY).decrypt(crypto.encrypt("new").encode()) == b"new"


def test_reencrypt_secrets_moves_every_stored_secret_under_the_first_key(
    stored_under_the_derived_key, settings, capsys
):
    endpoint, secret, channel = stored_under_the_derived_key
    before = WebhookEndpoint.objects.get(pk=endpoint.pk).secret_encrypted
    with pytest.raises(InvalidToken):
        Fernet(NEW_KEY).decrypt(before.encode())

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    call_command("reencrypt_secrets")

    only_new_key = Fernet(NEW_KEY)
    stored = WebhookEndpoint.objects.get(pk=endpoint.pk).secret_encrypted
    assert only_new_key.decrypt(stored.encode()).decode() == secret
    stored = Channel.objects.get(pk=channel.pk).credential_encrypted
    assert only_new_key.decrypt(stored.encode()).decode() == "sk-a"
    assert "billing.WebhookEndpoint.secret_encrypted: 1 re-encrypted, 0 unreadable" in (
        capsys.readouterr().out
    )


def test_a_secret_no_key_opens_is_reported_and_left_alone(stored_under_the_derived_key, settings):
    endpoint, _, channel = stored_under_the_derived_key
    foreign = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_encrypted=foreign)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(CommandError, match="1 secret"):
        call_command("reencrypt_secrets")
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret_encrypted == foreign
    stored = Channel.objects.get(pk=channel.pk).credential_encrypted
    assert Fernet(NEW_KEY).decrypt(stored.encode()) == b"sk-a"  # the others are done


def test_every_encrypted_field_is_re_encrypted_by_the_command():
    fields = {
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.name.endswith("_encrypted")
    }
    assert fields == set(crypto.ENCRYPTED_FIELDS)
