import ipaddress
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, Organization
from accounts.tenancy import TenantQuerySet
from portal.ids import PublicIdField
from projects import tokens

MAX_ALLOWLIST = 20
LAST_USED_PRECISION = timedelta(minutes=1)


class Project(models.Model):
    """A customer's unit of work: keys hang off it, usage is reported per project."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    public_id = PublicIdField(prefix="prj")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="projects"
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="projects",
        verbose_name=_("department"),
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    department_field = "department"

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED


class HashedSecret(models.Model):
    """A token shown once: its public prefix, its keyed digest and the pepper it was made with."""

    token_format: tokens.TokenFormat

    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    pepper_id = models.CharField(max_length=16, editable=False)

    class Meta:
        abstract = True

    def set_new_secret(self) -> str:
        """Give the object a fresh token; returns the plaintext, which is never stored."""
        plaintext, self.prefix = self.token_format.generate()
        self.pepper_id = tokens.current_pepper_id()
        self.digest = tokens.digest(plaintext, self.pepper_id)
        return plaintext

    @classmethod
    def mark_used(cls, moments: dict[int, datetime]) -> None:
        """Advance `last_used_at` (a field of each subclass) of each row (pk: time of use):
        one conditional UPDATE, which changes a row only if its time is empty or older than
        LAST_USED_PRECISION before the new one, so it never goes back and frequent callers
        write at most once a minute."""
        if not moments:
            return

        def per_row(shift=timedelta(0)):
            whens = [When(pk=pk, then=Value(moment - shift)) for pk, moment in moments.items()]
            return Case(*whens, output_field=models.DateTimeField())

        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=per_row(LAST_USED_PRECISION))
        cls.objects.filter(stale, pk__in=moments).update(last_used_at=per_row())


def parse_ip_allowlist(values: list[str]) -> list[str]:
    """Normalised CIDRs ("203.0.113.7" becomes "203.0.113.7/32"); raises ValidationError."""
    if not isinstance(values, list):
        raise ValidationError(_("Enter a list of IP addresses or CIDR ranges."), code="invalid")
    if len(values) > MAX_ALLOWLIST:
        raise ValidationError(
            _("At most %(max)d addresses or ranges."),
            code="max_length",
            params={"max": MAX_ALLOWLIST},
        )
    networks = []
    for value in values:
        try:
            network = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise ValidationError(
                _("%(value)s is not an IPv4 or IPv6 address or CIDR range."),
                code="invalid",
                params={"value": value},
            ) from None
        if str(network) not in networks:
            networks.append(str(network))
    return networks


class ApiKey(HashedSecret):
    """A customer's key to the gateway. The plaintext is shown once and never stored."""

    token_format = tokens.API_KEY

    public_id = PublicIdField(prefix="key")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(_("name"), max_length=120)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # A time in the future means "revoked then": the old key of a rotation, in its grace period.
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    allowed_models = models.JSONField(
        _("allowed models"),
        default=list,
        blank=True,
        help_text=_("Catalog model ids; empty means every model the organization may use."),
    )
    ip_allowlist = models.JSONField(
        _("IP allowlist"),
        default=list,
        blank=True,
        help_text=_("Up to 20 IPv4 or IPv6 addresses or CIDR ranges; empty means any address."),
    )
    rpm_limit = models.PositiveIntegerField(_("requests per minute"), null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(_("tokens per minute"), null=True, blank=True)
    rotated_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rotated_to",
        verbose_name=_("rotated from"),
    )

    objects = TenantQuerySet.as_manager()
    tenant_field = "project__organization"
    department_field = "project__department"

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Among the keys still in service: the old key of a rotation (revoked then) hands
            # its name to the new one, and a revoked key's name may be used again.
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=Q(revoked_at__isnull=True),
                name="api_key_name_unique_in_project",
                violation_error_message=_("This project already has a key with this name."),
            )
        ]

    def __str__(self):
        # A name is unique in its project only: the project goes beside it wherever the key
        # is named (select_related("project") where keys are listed).
        return f"{self.name} · {self.project.name} ({self.prefix}…)"

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        ROTATING = "rotating", _("Rotating")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    @property
    def state(self) -> str:
        now = timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return self.State.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return self.State.EXPIRED
        if self.revoked_at is not None:
            return self.State.ROTATING
        return self.State.ACTIVE

    def get_state_display(self) -> str:
        return self.State(self.state).label


class GatewayCredential(HashedSecret):
    """The Bearer token a model gateway presents to the gateway endpoints. Staff issue it."""

    token_format = tokens.GATEWAY_CREDENTIAL

    name = models.CharField(_("name"), max_length=120)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("gateway credential")
        verbose_name_plural = _("gateway credentials")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"
