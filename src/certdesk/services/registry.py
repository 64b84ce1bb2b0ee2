"""All services of one running process, wired once from a :class:`Runtime`."""

from __future__ import annotations

from certdesk.services.accounts import AccountService
from certdesk.services.approvals import ApprovalService
from certdesk.services.audit import AuditService
from certdesk.services.authority import Authority
from certdesk.services.cases import CaseService
from certdesk.services.contacts import ContactService
from certdesk.services.csrs import CsrService
from certdesk.services.inventory import InventoryService
from certdesk.services.issuance import IssuanceService
from certdesk.services.logins import LoginService
from certdesk.services.orgs import OrganizationService
from certdesk.services.policy import PolicyService
from certdesk.services.revocation import RevocationService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.tokens import TokenService


class Services:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.audit = AuditService(rt)
        self.authority = Authority(rt, self.audit)
        self.orgs = OrganizationService(rt, self.audit)
        self.tokens = TokenService(rt, self.audit)
        self.secretbox = SecretBox(rt.settings.secrets_dir)
        self.accounts = AccountService(rt, self.audit)
        self.logins = LoginService(rt, self.audit, self.tokens, self.secretbox)
        self.policy = PolicyService(rt)
        self.csrs = CsrService(rt, self.policy)
        self.issuance = IssuanceService(rt, self.authority, self.audit)
        self.inventory = InventoryService(rt)
        self.revocation = RevocationService(rt, self.authority, self.inventory, self.audit)
        self.contacts = ContactService(rt, self.audit)
        self.approvals = ApprovalService(rt, self.audit)
        self.cases = CaseService(rt, self.audit, self.approvals)
