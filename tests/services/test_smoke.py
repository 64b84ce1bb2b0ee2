"""A first end-to-end pass through the services on both backends."""

from __future__ import annotations

from certdesk.core.keys import KeyType
from certdesk.services.issuance import IssueCommand
from certdesk.services.registry import Services
from certdesk.services.revocation import Reason
from conftest import OPERATOR


def test_issue_and_revoke(services: Services) -> None:
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    csr = services.csrs.generate(["www.dmv.ca.gov"], KeyType.EC256)
    issued = services.issuance.issue(OPERATOR, IssueCommand(org_code="dmv", csr=csr.csr_pem))
    assert services.inventory.show(OPERATOR, issued.serial).status == "active"
    services.revocation.revoke(OPERATOR, issued.serial, Reason.KEY_COMPROMISE)
    assert services.inventory.show(OPERATOR, issued.serial).status == "revoked"
