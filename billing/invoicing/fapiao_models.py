"""Issued 发票 documents: the file (PDF or OFD) a customer downloads, with its number and date.

A fapiao answers a FapiaoRequest (one request may be answered by several fapiao, each with its
own number). A red-letter (红字) fapiao reverses an earlier one when its invoice is credited: it
answers the credit note's request and points at the fapiao it reverses
(billing.invoicing.fapiao).
"""

import secrets
from pathlib import PurePath

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantQuerySet
from portal.ids import PublicIdField


def fapiao_storage():
    return storages["fapiao"]


def fapiao_path(document, filename: str) -> str:
    """A path nobody can guess (the files are served only through the portal, after the
    tenant and permission checks); the extension is kept for the storage's content type."""
    return f"{secrets.token_urlsafe(24)}{PurePath(filename).suffix.lower()}"


class FapiaoDocument(models.Model):
    class Kind(models.TextChoices):
        BLUE = "blue", _("Fapiao")
        RED = "red", _("Red-letter fapiao (红字发票)")

    class Format(models.TextChoices):
        PDF = "pdf", "PDF"
        OFD = "ofd", "OFD"

    public_id = PublicIdField(prefix="fpd")
    fapiao_request = models.ForeignKey(
        "billing.FapiaoRequest",
        on_delete=models.PROTECT,
        related_name="documents",
        verbose_name=_("fapiao request"),
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        related_name="fapiao_documents",
        verbose_name=_("invoice"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.BLUE)
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses fapiao"),
    )
    number = models.CharField(
        _("fapiao number"),
        max_length=40,
        unique=True,
        error_messages={"unique": _("This fapiao number is already recorded.")},
    )
    issued_on = models.DateField(_("fapiao date"))
    file = models.FileField(_("file"), storage=fapiao_storage, upload_to=fapiao_path)
    file_format = models.CharField(_("format"), max_length=10, choices=Format.choices)
    provider = models.CharField(
        _("issued by"), max_length=40, blank=True, help_text=_("Empty: attached by staff.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_field = "invoice__organization"

    class Meta:
        verbose_name = _("fapiao document")
        verbose_name_plural = _("fapiao documents")
        ordering = ["-issued_on", "-id"]

    def __str__(self):
        return self.number

    @property
    def content_type(self) -> str:
        return "application/pdf" if self.file_format == self.Format.PDF else "application/ofd"

    @property
    def filename(self) -> str:
        return f"fapiao-{self.number}.{self.file_format}"
