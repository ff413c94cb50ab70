"""What each audit action code means, in the reader's language.

Services record machine codes (`project.updated`); pages, the CSV and the API show
`action_label(code)` next to the code. Every code passed to record_audit_event /
record_actor_event needs an entry here (tests/accounts/test_audit_actions.py checks the
source); staff console codes `admin.<model>_<verb>` are labelled from the model's name.
"""

from django.apps import apps
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "organization.created": _("Organization created"),
    "organization.updated": _("Organization settings changed"),
    "organization.active": _("Organization approved"),
    "organization.suspended": _("Organization suspended"),
    "organization.export_requested": _("Data export requested"),
    "organization.export_downloaded": _("Data export downloaded"),
    "organization.export_purged": _("Data export deleted"),
    "organization.export_deleted": _("Data export deleted before it expired"),
    "profile.updated": _("Profile changed"),
    "mfa.totp_activated": _("Authenticator app turned on"),
    "mfa.totp_deactivated": _("Authenticator app turned off"),
    "mfa.recovery_codes_regenerated": _("Recovery codes regenerated"),
    "mfa.security_key_added": _("Security key added"),
    "mfa.security_key_removed": _("Security key removed"),
    "member.changed": _("Member changed"),
    "member.removed": _("Member removed"),
    "invitation.sent": _("Invitation sent"),
    "invitation.resent": _("Invitation sent again"),
    "invitation.revoked": _("Invitation revoked"),
    "invitation.accepted": _("Invitation accepted"),
    "department.created": _("Department created"),
    "department.updated": _("Department changed"),
    "department.deleted": _("Department deleted"),
    "project.created": _("Project created"),
    "project.updated": _("Project changed"),
    "project.archived": _("Project archived"),
    "api_key.created": _("API key created"),
    "api_key.updated": _("API key changed"),
    "api_key.rotated": _("API key rotated"),
    "api_key.revoked": _("API key revoked"),
    "model_policy.created": _("Model policy created"),
    "model_policy.changed": _("Model policy changed"),
    "model_policy.deleted": _("Model policy deleted"),
    "quota.created": _("Quota created"),
    "quota.updated": _("Quota changed"),
    "quota.deleted": _("Quota deleted"),
    "quota_request.created": _("Quota increase requested"),
    "quota_request.approved": _("Quota increase approved"),
    "quota_request.rejected": _("Quota increase rejected"),
    "webhook_endpoint.created": _("Webhook endpoint created"),
    "webhook_endpoint.deleted": _("Webhook endpoint deleted"),
    "webhook_delivery.resent": _("Webhook delivery sent again"),
    "billing.top_up": _("Balance topped up"),
    "billing.payment": _("Payment recorded"),
    "billing.payment_started": _("Online payment started"),
    "billing.payment_held": _("Online payment held for review"),
    "billing.refund_requested": _("Refund requested"),
    "billing.refund": _("Refund recorded"),
    "billing.invoice_issued": _("Invoice issued"),
    "billing.invoice_voided": _("Invoice voided"),
    "billing.month_closed": _("Month closed and invoiced"),
    "billing.credit_terms_changed": _("Credit terms changed"),
    "billing.suspended_for_overdue": _("Suspended for overdue invoices"),
    "billing.fapiao_profile_saved": _("Fapiao details saved"),
    "billing.low_balance_threshold_changed": _("Low-balance alert amount changed"),
    "billing.fapiao_requested": _("Fapiao requested"),
    "billing.fapiao_issued": _("Fapiao issued"),
    "billing.fapiao_rejected": _("Fapiao request rejected"),
    "billing.fapiao_attached": _("Fapiao file attached"),
    "billing.invoice_drafted": _("Draft invoice generated"),
    "billing.bank_statement_imported": _("Bank statement imported"),
    "billing.bank_line_assigned": _("Bank transfer assigned"),
    "billing.bank_line_ignored": _("Bank transfer set aside"),
    "packages.terms_added": _("Offer terms added"),
    "packages.published": _("Offer published"),
    "packages.unpublished": _("Offer withdrawn"),
    "packages.purchased": _("Token pack or plan bought"),
    "packages.purchase_cancelled": _("Unpaid token pack purchase cancelled"),
    "packages.purchase_credited": _("Token pack credited and its unused tokens revoked"),
    "billing.proposal_made": _("Negotiated terms proposed"),
    "billing.proposal_approved": _("Proposal approved"),
    "billing.proposal_rejected": _("Proposal rejected"),
    "billing.consolidated_billing_changed": _("Consolidated billing changed"),
    "billing.settlement_acknowledged": _("Settlement acknowledged by the operator"),
    "packages.allocated": _("Token pack allocated"),
    "catalog.imported": _("Model catalog imported"),
    "catalog.price_added": _("Model price added"),
    "catalog.model_filed": _("Model marked as filed"),
    "catalog.model_not_filed": _("Model marked as not filed"),
    "gateway_credential.created": _("Gateway credential created"),
    "gateway_credential.revoked": _("Gateway credential revoked"),
    "relay_channel.created": _("Relay channel created"),
    "relay_channel.changed": _("Relay channel changed"),
    "support.view_as_started": _("Support session started"),
    "support.view_as_ended": _("Support session ended"),
}

STAFF_CONSOLE_VERBS = {
    "added": _("Staff console: {model} added"),
    "changed": _("Staff console: {model} changed"),
    "deleted": _("Staff console: {model} deleted"),
}


def action_label(code: str):
    """The reader's-language label of `code` (the code itself when it is unknown)."""
    if code in ACTION_LABELS:
        return ACTION_LABELS[code]
    if code.startswith("admin."):
        model_name, _sep, verb = code.removeprefix("admin.").rpartition("_")
        if verb in STAFF_CONSOLE_VERBS:
            return format_lazy(STAFF_CONSOLE_VERBS[verb], model=_model_name(model_name))
    return code


def _model_name(model_name: str):
    for model in apps.get_models():
        if model._meta.model_name == model_name:
            return model._meta.verbose_name
    return model_name
