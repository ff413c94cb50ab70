"""Account managers propose negotiated packages and contract discounts; a second staff member
approves (four eyes). Before approval, or after a rejection, customers see nothing new; each
step is an audit row."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from billing.catalog.models import ContractDiscount
from billing.catalog.pricing import contract_discount
from billing.managed import proposals
from billing.managed.models import AccountManager, Proposal
from billing.packages.models import Offer, OfferTerms
from billing.packages.selectors import terms_in_force
from tests.factories import CatalogModelFactory, OrganizationFactory, UserFactory, as_actor

pytestmark = pytest.mark.django_db

PACKAGE = {
    "offer": {"kind": "pack", "name_en": "Gov annual pack", "name_zh": "政务年包"},
    "terms": {"price_amount": "90000.00", "token_amount": 100_000_000, "scope": "all",
              "validity_days": 365},
}  # fmt: skip


@pytest.fixture
def manager():
    return UserFactory(email="am@example.com", is_staff=True)


@pytest.fixture
def approver():
    return UserFactory(email="approver@example.com", is_staff=True)


def assigned(manager):
    """An organization `manager` looks after."""
    org = OrganizationFactory()
    AccountManager.objects.create(user=manager, organization=org)
    return org


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", "actor__email"))


def test_a_package_takes_effect_only_when_a_second_staff_member_approves(manager, approver):
    org = assigned(manager)
    proposal = proposals.propose(
        actor=as_actor(manager), organization=org, kind="package", payload=PACKAGE
    )
    # Pending: the validation ran the approval and rolled it back, nothing was kept.
    assert proposal.status == Proposal.Status.PENDING
    assert not Offer.objects.exists() and not OfferTerms.objects.exists()
    with pytest.raises(ValidationError, match="second staff member"):
        proposals.approve(actor=as_actor(manager), proposal=proposal)
    assert not Offer.objects.exists()

    proposals.approve(actor=as_actor(approver), proposal=proposal)
    proposal.refresh_from_db()
    offer = Offer.objects.get()
    assert (offer.visibility, offer.is_published) == (Offer.Visibility.NAMED, True)
    assert list(offer.offered_to.all()) == [org]
    assert terms_in_force(offer) == proposal.offer_terms
    assert proposal.offer_terms.token_amount == 100_000_000
    assert (proposal.status, proposal.decided_by) == (Proposal.Status.APPROVED, approver)
    assert actions() == [
        ("billing.proposal_made", manager.email),
        ("packages.terms_added", approver.email),
        ("billing.proposal_approved", approver.email),
    ]
    with pytest.raises(ValidationError, match="decided already"):
        proposals.approve(actor=as_actor(UserFactory(is_staff=True)), proposal=proposal)


def test_a_rejected_discount_changes_nothing_and_an_approved_one_prices_the_customer(
    manager, approver
):
    org = assigned(manager)
    model = CatalogModelFactory()
    payload = {"percent": "12.5", "valid_from": "2026-01-01", "note": "framework contract"}
    first = proposals.propose(actor=as_actor(manager), organization=org, kind="discount",
                              payload=payload)  # fmt: skip
    at = datetime(2026, 6, 1, tzinfo=UTC)
    assert contract_discount(organization=org, model=model, at=at) == 0
    with pytest.raises(ValidationError) as refused:
        proposals.reject(actor=as_actor(approver), proposal=first, reason=" ")
    assert "decision_reason" in refused.value.message_dict
    proposals.reject(actor=as_actor(approver), proposal=first, reason="Above the 10 % mandate")
    assert not ContractDiscount.objects.exists()
    assert contract_discount(organization=org, model=model, at=at) == 0

    second = proposals.propose(actor=as_actor(manager), organization=org, kind="discount",
                               payload={**payload, "percent": "10"})  # fmt: skip
    proposals.approve(actor=as_actor(approver), proposal=second)
    assert contract_discount(organization=org, model=model, at=at) == 10
    assert [a for a, _ in actions()] == [
        "billing.proposal_made",
        "billing.proposal_rejected",
        "billing.proposal_made",
        "billing.proposal_approved",
    ]


@pytest.mark.parametrize(
    ("kind", "payload", "says"),
    [
        ("package", {"offer": {"kind": "pack", "name_en": "x", "name_zh": "x"},
                     "terms": {"price_amount": "10", "scope": "all", "validity_days": 30}},
         "token_amount"),
        ("package", {"offer": {"kind": "pack", "name_en": "x", "name_zh": "x"},
                     "terms": {"price": "10"}}, "Unknown terms: price"),
        ("package", ["not", "an", "object"], "offer and terms"),
        ("discount", {"percent": "150", "valid_from": "2026-01-01"}, "percent"),
        ("discount", {"percent": "five", "valid_from": "2026-01-01"}, "percent"),
    ],
)  # fmt: skip
def test_a_proposal_that_could_not_be_applied_is_refused_at_its_payload(
    manager, kind, payload, says
):
    org = assigned(manager)
    with pytest.raises(ValidationError) as refused:
        proposals.propose(actor=as_actor(manager), organization=org, kind=kind, payload=payload)
    assert says in " ".join(refused.value.message_dict["payload"])
    assert not Proposal.objects.exists() and not Offer.objects.exists()
    assert not AuditEvent.objects.exists()


def test_only_staff_decide(manager):
    proposal = proposals.propose(
        actor=as_actor(manager), organization=assigned(manager), kind="discount",
        payload={"percent": "5", "valid_from": "2026-01-01"},
    )  # fmt: skip
    with pytest.raises(ValidationError, match="Only staff"):
        proposals.approve(actor=as_actor(UserFactory()), proposal=proposal)
    assert not ContractDiscount.objects.exists()


def test_only_an_account_manager_of_the_organization_proposes(manager):
    with pytest.raises(ValidationError) as refused:
        proposals.propose(
            actor=as_actor(manager), organization=OrganizationFactory(), kind="discount",
            payload={"percent": "5", "valid_from": "2026-01-01"},
        )  # fmt: skip
    assert "organization" in refused.value.message_dict
    assert not Proposal.objects.exists()
