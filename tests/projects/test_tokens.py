"""Token format, checksum, keyed digest and pepper rotation; no plaintext in the database."""

import re

import pytest
from django.db import connection

from projects import services, tokens
from tests.factories import as_actor
from tests.portal.test_settings import run

pytestmark = pytest.mark.django_db


def test_a_key_has_a_recognisable_prefix_a_32_byte_secret_and_a_checksum():
    plaintext, prefix = tokens.API_KEY.generate()
    assert re.fullmatch(r"tpk_[0-9A-Za-z]{57}", plaintext)
    assert plaintext.startswith(prefix) and len(prefix) == 12
    assert 62**tokens.SECRET_LENGTH >= 2**256
    assert tokens.API_KEY.prefix_of(plaintext) == prefix


def test_keys_are_different_every_time():
    assert len({tokens.API_KEY.generate()[0] for _ in range(100)}) == 100


def test_any_single_changed_character_fails_the_checksum():
    plaintext, _ = tokens.API_KEY.generate()
    for position in range(4, len(plaintext)):
        for replacement in "0aZ":
            changed = plaintext[:position] + replacement + plaintext[position + 1 :]
            if changed != plaintext:
                assert tokens.API_KEY.prefix_of(changed) is None, (position, replacement)


def test_a_key_of_another_kind_is_refused():
    credential, _ = tokens.GATEWAY_CREDENTIAL.generate()
    assert credential.startswith("tpg_")
    assert tokens.API_KEY.prefix_of(credential) is None


def test_truncated_and_padded_keys_are_refused():
    plaintext, _ = tokens.API_KEY.generate()
    assert tokens.API_KEY.prefix_of(plaintext[:-1]) is None
    assert tokens.API_KEY.prefix_of(plaintext + "0") is None
    assert tokens.API_KEY.prefix_of(f" {plaintext}") is None


def test_the_digest_is_an_hmac_under_the_current_pepper(settings):
    settings.API_KEY_PEPPERS = {"1": "old pepper", "2": "new pepper"}
    settings.API_KEY_PEPPER_ID = "2"
    plaintext, _ = tokens.API_KEY.generate()
    assert tokens.digest(plaintext, "2") != tokens.digest(plaintext, "1")
    assert tokens.matches(plaintext, "2", tokens.digest(plaintext, "2"))
    assert not tokens.matches(plaintext, "1", tokens.digest(plaintext, "2"))


def test_keys_made_with_an_older_pepper_keep_working_after_rotation(
    settings, owner, project_a, catalog, gateway
):
    peppers = settings.API_KEY_PEPPERS  # the gateway's credential was made with these
    settings.API_KEY_PEPPERS = {**peppers, "1": "first pepper"}
    settings.API_KEY_PEPPER_ID = "1"
    old, old_plaintext = services.create_api_key(actor=as_actor(owner), project=project_a, name="o")
    settings.API_KEY_PEPPERS = {**peppers, "1": "first pepper", "2": "second pepper"}
    settings.API_KEY_PEPPER_ID = "2"
    new, new_plaintext = services.create_api_key(actor=as_actor(owner), project=project_a, name="n")
    assert (old.pepper_id, new.pepper_id) == ("1", "2")
    assert gateway(old_plaintext, client_ip="10.0.0.1").status_code == 200
    assert gateway(new_plaintext, client_ip="10.0.0.1").status_code == 200


def test_a_key_whose_pepper_was_removed_is_invalid(settings):
    plaintext, _ = tokens.API_KEY.generate()
    stored = tokens.digest(plaintext, settings.API_KEY_PEPPER_ID)
    assert not tokens.matches(plaintext, "retired", stored)


def test_no_plaintext_is_stored_anywhere_in_the_database(owner, project_a, catalog):
    secrets = [
        services.create_api_key(actor=as_actor(owner), project=project_a, name="k1")[1],
        services.create_gateway_credential(actor=services.Actor(user=owner.user), name="gw")[1],
    ]
    key = project_a.api_keys.get()
    secrets.append(services.rotate_api_key(actor=as_actor(owner), key=key)[1])
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            columns = [
                c.name for c in connection.introspection.get_table_description(cursor, table)
            ]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row)
                found += [(table, s[:8]) for s in secrets if s in text or s[12:] in text]
    assert found == []
    assert project_a.api_keys.count() == 2  # the scan did see the keys' rows


def test_production_refuses_to_start_without_peppers():
    from tests.portal.test_settings import PRODUCTION

    env = {**PRODUCTION, "API_KEY_PEPPERS": ""}
    result = run("pass", **env)
    assert result.returncode != 0
    assert "API_KEY_PEPPERS (or API_KEY_PEPPERS_FILE) is required in production" in result.stderr


def test_peppers_are_read_from_the_environment():
    result = run(
        "from django.conf import settings as s; print(*s.API_KEY_PEPPERS, s.API_KEY_PEPPER_ID)",
        API_KEY_PEPPERS="1:first,2:second",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 2 2"


@pytest.mark.parametrize(("peppers", "pepper_id"), [("nocolon", ""), ("1:a", "3"), ("1:", "")])
def test_a_bad_pepper_setting_stops_startup(peppers, pepper_id):
    env = {"API_KEY_PEPPERS": peppers}
    if pepper_id:
        env["API_KEY_PEPPER_ID"] = pepper_id
    result = run("pass", **env)
    assert result.returncode != 0
    assert "API_KEY_PEPPER" in result.stderr
