"""Two members of one organization, one reading Chinese and one English: quota alerts and
invoice notices reach each in their own language (bell and email); the billing mailbox
reads the organization's language."""

import pytest
from django.core import mail
from django.db import transaction

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from notifications.models import Notification
from tests.billing.invoicing_data import NOV, customer, rollup
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
Scope = Quota.Scope


def email_to(address):
    [message] = [m for m in mail.outbox if m.to == [address]]
    return message


def test_a_quota_alert_reaches_each_member_in_their_language(
    org, owner, make_quota, departments, key_a1, usage, django_capture_on_commit_callbacks
):
    owner.user.language = "zh-hans"
    owner.user.save()
    admin = MembershipFactory(
        organization=org, role=Role.ADMIN, user=UserFactory(language="en")
    ).user
    make_quota(Scope.DEPARTMENT, departments["A"], limit=100, thresholds=[50])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        quotas.record_usage([usage(key_a1[0], tokens=60)])
    chinese = Notification.objects.get(user=owner.user)
    english = Notification.objects.get(user=admin)
    assert chinese.sent_subject.startswith("配额已用 50 %")
    assert english.sent_subject.startswith("Quota at 50 %")
    assert "配额已用 50 %" in email_to(owner.user.email).subject
    assert "已达到的阈值" in email_to(owner.user.email).body
    assert email_to(admin.email).subject.startswith("[Token Portal] Quota at 50 %")
    assert "Threshold reached: 50 %" in email_to(admin.email).body


def test_an_issued_invoice_reaches_each_member_in_their_language(
    settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_LANGUAGE = "en"
    c = customer()
    c.owner.user.language = "zh-hans"
    c.owner.user.save()
    billing = MembershipFactory(
        organization=c.organization, role=Role.BILLING, user=UserFactory(language="en")
    ).user
    never_chose = MembershipFactory(organization=c.organization, role=Role.BILLING).user
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    number = invoice.number
    chinese = Notification.objects.get(user=c.owner.user)
    assert chinese.sent_subject == f"账单 {number} 已开具"
    assert Notification.objects.get(user=billing).sent_subject == f"Invoice {number} issued"
    assert Notification.objects.get(user=never_chose).sent_subject == f"Invoice {number} issued"
    assert f"账单 {number} 已开具" in email_to(c.owner.user.email).subject
    assert f"Invoice {number} issued" in email_to(billing.email).subject
    assert f"Invoice {number}: ¥106.00" in email_to(billing.email).body
    # The billing mailbox reads the organization's language: its (only) owner's, Chinese.
    mailbox = email_to(c.organization.billing_email)
    assert mailbox.subject == f"账单 {number} 已开具"
