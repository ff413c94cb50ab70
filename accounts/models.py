from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from stdnum.cn import uscc

from accounts.audit import change_rows, normalize_changes
from accounts.audit_actions import action_label
from accounts.permissions import Role
from accounts.tenancy import TenantQuerySet
from portal.constraints import FieldConstraintErrors
from portal.ids import PublicIdField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email address is the login; there is no username."""

    public_id = PublicIdField(prefix="usr")
    email = models.EmailField(
        _("email address"),
        unique=True,
        error_messages={"unique": _("A user with this email address is already registered.")},
    )
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_("Whether the user can log into the staff admin site."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Language of the texts sent to this user; blank until they choose one."),
    )

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [("hijack_user", _("Can view the portal as a customer's member"))]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email


def validate_uscc(value: str) -> None:
    """统一社会信用代码: 18 characters with a check digit (GB 32100-2015)."""
    if not uscc.is_valid(value):
        raise ValidationError(
            _("Enter a valid Unified Social Credit Code (18 characters with a valid check digit)."),
            code="invalid_uscc",
        )


class Organization(FieldConstraintErrors, models.Model):
    """A customer: an enterprise or a government body. Everything it owns hangs off it."""

    class Kind(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise")
        GOVERNMENT = "government", _("Government body")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending review")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    class PaymentMode(models.TextChoices):
        PREPAID = "prepaid", _("Prepaid")
        POSTPAID = "postpaid", _("Postpaid")

    public_id = PublicIdField(prefix="org")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.ENTERPRISE)
    name = models.CharField(_("name"), max_length=200)
    legal_name = models.CharField(_("legal name"), max_length=200)
    uscc = models.CharField(
        _("Unified Social Credit Code"),
        max_length=18,
        unique=True,
        error_messages={"unique": _("An organization with this code is already registered.")},
        validators=[validate_uscc],
        help_text=_("统一社会信用代码, 18 characters."),
    )
    contact_name = models.CharField(_("contact person"), max_length=100)
    contact_phone = models.CharField(_("contact phone"), max_length=30)
    address = models.CharField(_("address"), max_length=300)
    billing_email = models.EmailField(_("billing email"))

    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    status_note = models.TextField(_("status note"), blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)

    payment_mode = models.CharField(
        _("payment mode"), max_length=20, choices=PaymentMode.choices, default=PaymentMode.PREPAID
    )
    credit_limit_amount = models.DecimalField(
        _("credit limit"), max_digits=14, decimal_places=2, default=0
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    require_mfa = models.BooleanField(
        _("require two-factor authentication for all members"), default=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credit_limit_amount__gte=0),
                name="org_credit_limit_not_negative",
                violation_error_message=_("The credit limit cannot be negative."),
            ),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.uscc = self.uscc.strip().upper()
        super().save(*args, **kwargs)


class Department(FieldConstraintErrors, models.Model):
    """A node of an organization's budget tree (bureau, division, team)."""

    public_id = PublicIdField(prefix="dep")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="departments"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    name = models.CharField(_("name"), max_length=120)
    code = models.CharField(_("code"), max_length=40)
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="managed_departments"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"],
                name="department_code_unique",
                violation_error_message=_("Another department already uses this code."),
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class Membership(FieldConstraintErrors, models.Model):
    """A user's place in an organization: a role, and optionally a home department."""

    public_id = PublicIdField(prefix="mem")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    department = models.ForeignKey(
        Department,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("department"),
    )
    created_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"],
                name="membership_unique",
                violation_error_message=_("This person is already a member of the organization."),
            )
        ]

    def __str__(self):
        return f"{self.user} @ {self.organization} ({self.role})"


class AuditEventQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only.")

    def delete(self):
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Who did what to which object, when and from where. Written only by services."""

    public_id = PublicIdField(prefix="aud")
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # For actors that are not users (a gateway credential, the system) and to keep the
    # actor readable after the user is renamed.
    actor_label = models.CharField(_("actor"), max_length=200)
    action = models.CharField(_("action"), max_length=80, db_index=True)
    target_type = models.CharField(_("target type"), max_length=80, blank=True)
    target_id = models.CharField(_("target id"), max_length=40, blank=True)
    target_label = models.CharField(_("target"), max_length=200, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    # What owners see of an event (API and CSV export), in this order.
    PUBLIC_FIELDS = (
        "created_at",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "target_label",
        "changes",
        "ip_address",
        "user_agent",
    )

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only.")

    @property
    def action_label(self):
        return action_label(self.action)

    @property
    def normalized_changes(self) -> dict:
        """`changes` as {"before": {...}, "after": {...}}, whatever shape the row was written
        in (accounts/audit.py)."""
        return normalize_changes(self.changes)

    @property
    def change_rows(self):
        """`changes` as lines of field, old value, new value, for pages."""
        return change_rows(self.changes)


class Invitation(FieldConstraintErrors, models.Model):
    """An email invitation to join an organization with a role (and a home department).

    The link's token is shown only in the email; the database keeps a keyed digest of it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REVOKED = "revoked", _("Revoked")

    public_id = PublicIdField(prefix="inv")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    department = models.ForeignKey(
        Department,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=models.Q(status="pending"),
                name="invitation_one_pending_per_email",
                violation_error_message=_(
                    "An invitation to this address is pending: resend or revoke it."
                ),
            )
        ]

    def __str__(self):
        return f"{self.email} → {self.organization}"

    @staticmethod
    def digest(token: str) -> str:
        """HMAC-SHA256 of a link's token, keyed by a pepper derived from SECRET_KEY."""
        return salted_hmac("accounts.Invitation.token", token, algorithm="sha256").hexdigest()

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.PENDING and not self.is_expired


def export_storage():
    """Where finished data exports are kept (settings.STORAGES["exports"])."""
    from django.core.files.storage import storages

    return storages["exports"]


class DataExport(models.Model):
    """A ZIP of everything an organization owns, built by a worker (exports/services.py).

    The file is served only through the organization-scoped download view and API, never by
    its path; it is deleted when the export expires or the organization deletes it sooner
    (the row stays, as history).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Being built")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")
        DELETED = "deleted", _("Deleted")

    public_id = PublicIdField(prefix="exp")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="data_exports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    file = models.FileField(_("file"), storage=export_storage, blank=True, max_length=200)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    row_counts = models.JSONField(_("rows per file"), default=dict, blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("data export")
        verbose_name_plural = _("data exports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self):
        return f"{self.organization} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY
