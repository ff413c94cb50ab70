"""Remittance references: one stable code per organization, found again in a bank memo."""

import pytest

from billing.invoicing.remittance import codes_in, organization_for, reference_for
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_each_organization_keeps_one_code_of_its_own():
    first, second = OrganizationFactory(), OrganizationFactory()
    code = reference_for(first)
    assert code.startswith("TP") and len(code) == 10
    assert reference_for(first) == code
    assert reference_for(second) != code


def test_a_memo_names_the_organization_whatever_the_bank_did_to_the_code():
    organization = OrganizationFactory()
    code = reference_for(organization)
    for memo in (code, f"货款 {code.lower()} 12月", f"PAYMENT TP-{code[2:]}"):
        assert organization_for(memo) == organization, memo
    assert codes_in("no code here, TP123") == []
    assert organization_for("TPZZZZZZZZ") is None
