"""A key's "last used" follows the usage reported for it, whoever reported it: a gateway that
caches its authorize answers, a replayed journal, the relay."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import formats, timezone

from billing.metering.services import ingest_usage
from projects.models import ApiKey
from tests.factories import ApiKeyFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _event(key, at, request_id):
    return {
        "request_id": request_id,
        "key_id": key.public_id,
        "model": "deepseek/deepseek-chat",
        "input_tokens": 10,
        "output_tokens": 5,
        "occurred_at": at.isoformat(),
    }


@pytest.fixture
def key(org, priced_model):
    return ApiKeyFactory(project=ProjectFactory(organization=org), name="Reporting")


def test_ingested_usage_sets_last_used_and_the_project_page_shows_it(key, owner, client_of):
    at = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)
    ingest_usage(events=[_event(key, at - timedelta(hours=1), "r-1"), _event(key, at, "r-2")])

    key.refresh_from_db()
    assert key.last_used_at == at
    page = client_of(owner).get(f"/projects/{key.project.public_id}/").content.decode()
    shown = formats.date_format(timezone.localtime(at), "SHORT_DATETIME_FORMAT")
    assert shown in page


def test_older_usage_never_moves_last_used_back(key):
    now = timezone.now()
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    ingest_usage(events=[_event(key, now - timedelta(hours=3), "r-old")])
    key.refresh_from_db()
    assert key.last_used_at == now


def test_each_key_of_a_batch_gets_its_own_latest_call(org, key, priced_model):
    other = ApiKeyFactory(project=key.project, name="Batch")
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    second = first + timedelta(hours=1)
    ingest_usage(events=[_event(key, first, "k-1"), _event(other, second, "o-1")])
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    assert ApiKey.objects.get(pk=other.pk).last_used_at == second
