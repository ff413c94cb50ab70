"""Four-eyes proposals: an account manager proposes a negotiated package (a named offer with
its terms) or a contract discount for a customer; it takes effect only when a second staff
member approves it. Until then, and after a rejection, nothing customers see has changed:
the offer, terms or discount are made by the approval, in its transaction.

Payloads (docs/packages.md, "Operator side"):
- package: {"offer": {"kind", "name_en", "name_zh", "description_en", "description_zh"},
  "terms": {OfferTerms fields (decimals and dates as strings), "scope_models": [model ids]}}
- discount: {"percent", "valid_from", "valid_to", "provider", "model", "note"} (provider
  and model as ids, both optional: organization-wide).
Each step is audited: billing.proposal_made / billing.proposal_approved /
billing.proposal_rejected.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from billing.catalog.models import CatalogModel, ContractDiscount
from billing.managed.models import AccountManager, Proposal
from billing.packages.models import Offer, OfferTerms
from billing.packages.services import save_terms

OFFER_FIELDS = ("kind", "name_en", "name_zh", "description_en", "description_zh")
TERMS_FIELDS = (
    "price_amount", "vat_rate", "currency", "token_amount", "credit_amount", "scope",
    "scope_region", "counting", "reference_price_per_million", "validity_days", "valid_until",
    "purchase_limit", "period", "overage_discount_percent", "commitment_months",
    "renewal_notice_days",
)  # fmt: skip
DISCOUNT_FIELDS = ("percent", "valid_from", "valid_to", "note")


class _DryRun(Exception):
    """Rolls back a validation run of the approval."""


def _payload_error(message) -> ValidationError:
    return ValidationError({"payload": message})


def _apply_package(proposal: Proposal, actor: Actor) -> None:
    payload = proposal.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("offer"), dict):
        raise _payload_error(_("A package needs its offer and terms."))
    offer_values = {k: v for k, v in payload["offer"].items() if k in OFFER_FIELDS}
    offer = Offer(**offer_values, visibility=Offer.Visibility.NAMED, is_published=True)
    offer.full_clean()
    offer.save()
    offer.offered_to.add(proposal.organization)
    terms_values = payload.get("terms") if isinstance(payload.get("terms"), dict) else {}
    unknown = set(terms_values) - {*TERMS_FIELDS, "scope_models"}
    if unknown:
        raise _payload_error(_("Unknown terms: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    model_ids = terms_values.get("scope_models") or []
    models = list(CatalogModel.objects.filter(pk__in=[m for m in model_ids if str(m).isdigit()]))
    if len(models) != len(set(model_ids)):
        raise _payload_error(_("A listed model does not exist."))
    terms = OfferTerms(
        offer=offer,
        effective_from=timezone.now(),
        **{k: v for k, v in terms_values.items() if k in TERMS_FIELDS},
    )
    proposal.offer_terms = save_terms(actor=actor, terms=terms, scope_models=models)


def _apply_discount(proposal: Proposal) -> None:
    payload = proposal.payload if isinstance(proposal.payload, dict) else {}
    discount = ContractDiscount(
        organization=proposal.organization,
        provider_id=payload.get("provider") or None,
        model_id=payload.get("model") or None,
        **{k: v for k, v in payload.items() if k in DISCOUNT_FIELDS and v not in (None, "")},
    )
    discount.full_clean()
    discount.save()
    proposal.contract_discount = discount


def _apply(proposal: Proposal, actor: Actor) -> None:
    try:
        if proposal.kind == Proposal.Kind.PACKAGE:
            _apply_package(proposal, actor)
        else:
            _apply_discount(proposal)
    except ValidationError as error:
        # The form shows the payload as one field: name the term that is wrong.
        messages = (
            [f"{field}: {' '.join(errors)}" for field, errors in error.message_dict.items()]
            if hasattr(error, "error_dict")
            else error.messages
        )
        raise _payload_error(messages) from error
    except (TypeError, ValueError) as error:
        raise _payload_error(_("The proposed terms cannot be read: %(error)s") % {
            "error": error}) from error  # fmt: skip


def validate(proposal: Proposal, actor: Actor) -> None:
    """Run the approval and roll it back: a proposal that could not be approved is refused
    when it is made, at its payload."""
    try:
        with transaction.atomic():
            _apply(proposal, actor)
            raise _DryRun
    except _DryRun:
        proposal.offer_terms = proposal.contract_discount = None


def propose(*, actor: Actor, organization, kind: str, payload: dict, note: str = "") -> Proposal:
    proposal = Proposal(
        kind=kind, organization=organization, payload=payload, note=note, proposed_by=actor.user
    )
    proposal.full_clean(exclude=["proposed_by"])
    if not AccountManager.objects.filter(user=actor.user, organization=organization).exists():
        raise ValidationError(
            {"organization": _("Only its account managers propose terms for an organization.")}
        )
    with transaction.atomic():
        validate(proposal, actor)
        proposal.save()
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.proposal_made",
            target=proposal,
            changes={"after": {"kind": kind, "payload": payload}},
        )
    return proposal


def _decide(proposal: Proposal, actor: Actor, status: str, reason: str) -> Proposal:
    """Lock the pending proposal and check the four eyes: the decider is not the proposer."""
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status != Proposal.Status.PENDING:
        raise ValidationError(_("This proposal was decided already."))
    if actor.user is None or not actor.user.is_staff:
        raise ValidationError(_("Only staff decide proposals."))
    if actor.user.pk == proposal.proposed_by_id:
        raise ValidationError(_("A second staff member must decide: not the one who proposed."))
    proposal.status, proposal.decided_by = status, actor.user
    proposal.decided_at, proposal.decision_reason = timezone.now(), reason
    return proposal


def approve(*, actor: Actor, proposal: Proposal) -> Proposal:
    """Approve and apply in one transaction: the offer and terms or the discount exist from
    this commit on, never before."""
    with transaction.atomic():
        proposal = _decide(proposal, actor, Proposal.Status.APPROVED, "")
        _apply(proposal, actor)
        proposal.save()
        made = proposal.offer_terms or proposal.contract_discount
        record_actor_event(
            actor=actor,
            organization=proposal.organization,
            action="billing.proposal_approved",
            target=proposal,
            changes={"after": {"kind": proposal.kind, "made": str(made),
                               "proposed_by": proposal.proposed_by.email}},
        )  # fmt: skip
    return proposal


def reject(*, actor: Actor, proposal: Proposal, reason: str) -> Proposal:
    if not reason.strip():
        raise ValidationError({"decision_reason": _("Say why the proposal is rejected.")})
    with transaction.atomic():
        proposal = _decide(proposal, actor, Proposal.Status.REJECTED, reason.strip())
        proposal.save()
        record_actor_event(
            actor=actor,
            organization=proposal.organization,
            action="billing.proposal_rejected",
            target=proposal,
            changes={"after": {"kind": proposal.kind, "reason": proposal.decision_reason}},
        )
    return proposal
