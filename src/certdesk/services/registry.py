"""All services of one running process, wired once from a :class:`Runtime`."""

from __future__ import annotations

from certdesk.services.acme.accounts import AcmeAccounts
from certdesk.services.acme.eab import EabKeys
from certdesk.services.acme.nonces import Nonces
from certdesk.services.acme.orders import AcmeOrders
from certdesk.services.acme.persist import PersistRecords
from certdesk.services.acme.renewal_info import RenewalInfo
from certdesk.services.acme.va import validators
from certdesk.services.acme.validation import ValidationPool
from certdesk.services.audit import AuditService
from certdesk.services.casework.approvals import ApprovalService
from certdesk.services.casework.attachments import AttachmentService
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.closing import CaseClosing
from certdesk.services.casework.contact_replace import ContactReplacing
from certdesk.services.casework.contacts import ContactService
from certdesk.services.casework.delegated_admin import DelegatedAdminSetup
from certdesk.services.casework.fulfilment import FulfilmentService
from certdesk.services.casework.generated_keys import GeneratedKeys
from certdesk.services.casework.key_download import KeyDownload
from certdesk.services.casework.reissue import Reissuing
from certdesk.services.casework.renewal_cases import RenewalCases
from certdesk.services.casework.window import WindowService
from certdesk.services.casework.work_queue import WorkQueueService
from certdesk.services.checkpoints import CheckpointService
from certdesk.services.discovery.discovery import Discovery
from certdesk.services.discovery.external import ExternalCertificates
from certdesk.services.discovery.jobs import DiscoveryJobs
from certdesk.services.discovery.rechecks import Rechecks
from certdesk.services.discovery.verification import Verification
from certdesk.services.exports import ExportService
from certdesk.services.lifecycle.account_mail import AccountMailService
from certdesk.services.lifecycle.contracts import ContractService
from certdesk.services.lifecycle.housekeeping import HousekeepingService
from certdesk.services.lifecycle.notice_metrics import watch_notices
from certdesk.services.lifecycle.notices import NoticeService
from certdesk.services.lifecycle.renewals import RenewalService
from certdesk.services.lifecycle.retirements import Retirements
from certdesk.services.lifecycle.webhook_queue import WebhookSender
from certdesk.services.lifecycle.webhooks import WebhookService
from certdesk.services.lifecycle.worker_health import WorkerHealthService
from certdesk.services.people.accounts import AccountService
from certdesk.services.people.logins import LoginService
from certdesk.services.people.mail_preferences import MailPreferences
from certdesk.services.people.orgs import OrganizationService
from certdesk.services.people.tokens import TokenService
from certdesk.services.pki.authority import Authority
from certdesk.services.pki.challenges import ChallengePublisher
from certdesk.services.pki.csrs import CsrService
from certdesk.services.pki.inventory import InventoryService
from certdesk.services.pki.issuance import IssuanceService
from certdesk.services.pki.policy import PolicyService
from certdesk.services.pki.revocation import RevocationService
from certdesk.services.pki.vendor_backends import VendorBackends
from certdesk.services.pki.vendor_issuance import VendorIssuance
from certdesk.services.pki.vendors import VendorIssuers
from certdesk.services.reporting.costs import CostService
from certdesk.services.reporting.reports import ReportService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.transparency.findings import CtFindings
from certdesk.services.transparency.logs import CtLogs
from certdesk.services.transparency.watch import CtWatch


class Services:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.secretbox = SecretBox(rt.settings.secrets_dir)
        self.audit = AuditService(rt, self.secretbox)
        self.checkpoints = CheckpointService(rt, self.audit, self.secretbox)
        self.authority = Authority(rt, self.audit)
        self.orgs = OrganizationService(rt, self.audit)
        self.tokens = TokenService(rt, self.audit)
        self.accounts = AccountService(rt, self.audit, self.secretbox)
        self.logins = LoginService(rt, self.audit, self.tokens, self.secretbox)
        self.policy = PolicyService(rt)
        self.csrs = CsrService(rt, self.policy)
        # http-01 answers for vendor orders, served by web/challenges.py (RFC 8555 §8.3) from
        # the database, whichever process drives the order.
        self.challenges = ChallengePublisher(rt)
        # Vendor CAs (R16): their management, the backend registry and the order driver.
        self.vendor_backends = VendorBackends(
            rt, self.secretbox, http01=(self.challenges.publish, self.challenges.withdraw)
        )
        self.vendors = VendorIssuers(rt, self.audit, self.secretbox)
        self.vendors.on_change(self.vendor_backends.forget)
        self.vendor_orders = VendorIssuance(rt, self.audit, self.vendor_backends)
        rt.metrics.watch_orders(self.vendor_orders.counts)
        self.issuance = IssuanceService(rt, self.authority, self.audit, self.vendor_orders)
        self.inventory = InventoryService(rt)
        self.revocation = RevocationService(
            rt, self.authority, self.inventory, self.audit, self.vendor_backends
        )
        rt.metrics.watch_authority(self.revocation.ca_dates)
        self.contacts = ContactService(rt, self.audit)
        self.contact_replacing = ContactReplacing(rt, self.audit)
        self.approvals = ApprovalService(rt, self.audit)
        self.cases = CaseService(rt, self.audit, self.approvals)
        self.work_queue = WorkQueueService(rt)
        self.delegated_admin = DelegatedAdminSetup(rt, self.audit, self.cases, self.accounts)
        self.approvals.follow_up(self.delegated_admin.after_approval)
        generated_keys = GeneratedKeys(rt, self.audit, self.cases, self.secretbox)
        self.fulfilment = FulfilmentService(
            rt,
            self.audit,
            self.cases,
            self.issuance,
            generated_keys,
            CaseClosing(rt, self.audit, self.cases, self.revocation, self.delegated_admin),
            RenewalCases(rt, self.cases),
        )
        self.window = WindowService(
            rt,
            self.audit,
            self.cases,
            self.revocation,
            KeyDownload(rt, self.audit, self.cases, self.secretbox),
            Reissuing(rt, self.audit, self.cases, self.issuance, generated_keys),
        )
        self.exports = ExportService(self.inventory, self.cases, self.audit)
        self.costs = CostService(rt, self.audit)
        self.reports = ReportService(rt)
        self.notices = NoticeService(rt, audit=self.audit)
        watch_notices(rt.metrics.registry, self.notices.status_counts)
        # Account mail (R10) from the same queue as the notices.
        self.mail = AccountMailService(rt, self.secretbox, self.audit)
        # Issue 14: each person's mail preferences; outbound webhooks and their deliveries.
        self.mail_preferences = MailPreferences(rt, self.audit)
        self.webhooks = WebhookService(rt, self.audit, self.secretbox)
        self.webhook_sender = WebhookSender(rt, self.secretbox)
        # The lifecycle worker's services (certdesk/jobs/worker.py).
        self.retirements = Retirements(rt, self.revocation)
        self.renewals = RenewalService(rt, self.audit, self.cases, self.approvals, self.fulfilment)
        self.housekeeping = HousekeepingService(
            rt, self.audit, self.authority, self.issuance, self.revocation
        )
        self.worker_health = WorkerHealthService(rt)
        # The ACME server (R17): EAB keys, accounts, nonces and the order pipeline with its VA.
        self.acme_eab = EabKeys(rt, self.audit, self.secretbox)
        self.acme_nonces = Nonces(rt)
        self.acme_validations = ValidationPool(rt.settings.acme_va_workers)
        self.acme_renewal_info = RenewalInfo(rt, self.audit)
        acme_va = validators(rt.settings, rt.clock)
        self.acme_persist = PersistRecords(rt, self.audit, self.secretbox, acme_va)
        # A key change tells the organization which standing records to republish.
        self.acme_accounts = AcmeAccounts(
            rt, self.audit, self.secretbox, on_key_change=self.acme_persist.key_changed
        )
        self.acme_orders = AcmeOrders(
            rt,
            self.audit,
            self.issuance,
            self.inventory,
            self.revocation,
            acme_va,
            self.acme_validations,
            self.acme_persist,
        )
        rt.metrics.watch_workers(self.worker_health.figures)
        # Certificate Transparency monitoring (R18): the logs followed, reading them, findings.
        self.ct_logs = CtLogs(rt, self.audit)
        self.ct_watch = CtWatch(rt)
        self.ct_findings = CtFindings(rt)
        # Install verification, discovery and external certificates (R14, R18).
        self.verification = Verification(rt)
        self.external = ExternalCertificates(rt, self.audit, self.cases)
        self.discovery = Discovery(rt, self.external, self.verification.reach)
        # Discoveries the API and console start run in the background (R18).
        self.discovery_jobs = DiscoveryJobs(rt, self.discovery)
        self.rechecks = Rechecks(rt, self.verification)
        # Case attachments and cert services' vendor contracts (issue 14).
        self.attachments = AttachmentService(rt, self.audit)
        self.contracts = ContractService(rt, self.audit)
