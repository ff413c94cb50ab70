"""Tasks really run in a separate worker process through the configured broker."""

import pytest
from allauth.account.models import EmailAddress

from accounts.models import User
from portal.models import Heartbeat
from portal.tasks import record_heartbeat
from tests.conftest import wait_for

pytestmark = pytest.mark.worker


def test_a_task_sent_here_is_executed_by_the_worker(celery_worker):
    record_heartbeat.delay("test-probe")

    def heartbeat_recorded():
        """the worker wrote the heartbeat row"""
        return Heartbeat.objects.filter(name="test-probe").exists()

    wait_for(heartbeat_recorded)


def test_sign_up_email_is_delivered_by_the_worker(celery_worker, client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "kq3#v9!mZ2p@", "password2": "kq3#v9!mZ2p@"},
    )
    assert response.status_code == 302
    assert User.objects.filter(email="new@example.com").exists()
    assert not EmailAddress.objects.get(email="new@example.com").verified

    def message_written():
        """the worker wrote the verification email to its file backend"""
        files = list(celery_worker.glob("*.log")) if celery_worker.exists() else []
        return files and files[0].read_text()

    message = wait_for(message_written)
    assert "To: new@example.com" in message
    assert "Your email verification code is listed below." in message
