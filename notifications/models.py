"""Notifications: in-portal messages per user, and webhook endpoints with their delivery log."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantQuerySet
from portal import lazy_text
from portal.ids import PublicIdField


class Notification(models.Model):
    """One message in one user's bell."""

    public_id = PublicIdField(prefix="ntf")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event_type = models.CharField(_("event"), max_length=60)
    # The texts as rendered when sent, in the recipient's language then: what `subject` and
    # `message` show for rows without `content` (from before it), and what the admin searches.
    sent_subject = models.CharField(_("subject"), max_length=200, db_column="subject")
    sent_message = models.TextField(_("message"), db_column="message")
    # {"subject": ..., "message": ...} as message ids with parameters (portal.lazy_text):
    # rendered in the reader's language each time they are read.
    content = models.JSONField(_("content"), default=dict, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        app_label = "billing"  # the tables and migrations stay billing's
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "organization", "read_at"])]

    def __str__(self):
        return self.subject

    @property
    def subject(self) -> str:
        return self._read("subject", self.sent_subject)

    @property
    def message(self) -> str:
        return self._read("message", self.sent_message)

    def _read(self, part: str, sent: str) -> str:
        """`part` in the active language; as sent when it was not kept translatable."""
        if part not in self.content:
            return sent
        return lazy_text.render(self.content[part])


class WebhookEndpoint(models.Model):
    """A customer URL that receives signed events. The signing secret is stored encrypted
    (it must be readable to sign) and shown once."""

    public_id = PublicIdField(prefix="whe")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("event types"), default=list)
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        app_label = "billing"  # the tables and migrations stay billing's
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one endpoint, with its attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    public_id = PublicIdField(prefix="whd")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(_("event id"), max_length=40, db_index=True)
    event_type = models.CharField(_("event"), max_length=60)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_field = "endpoint__organization"

    class Meta:
        app_label = "billing"  # the tables and migrations stay billing's
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event_type} {self.event_id} → {self.endpoint_id}"
