"""Tables. Every schema change is also an Alembic migration (STYLE habit 12).

One module a domain; this package names every table class, so ``from certdesk.store.models
import Case`` works wherever it did and Alembic sees all of them on :data:`Base.metadata`
once the package is imported.
"""

from certdesk.store.models.acme import (
    AcmeAccount,
    AcmeAuthorization,
    AcmeEabKey,
    AcmeNonce,
    AcmeOrder,
    AcmePersistRecord,
    AcmeServerChallenge,
)
from certdesk.store.models.base import Base
from certdesk.store.models.cases import (
    Approval,
    ApprovalPolicy,
    Case,
    CaseAttachment,
    CaseEvent,
    Comment,
    Counter,
    Submittal,
)
from certdesk.store.models.certificates import CertificateName, CertificateRow, CrlRow, Issuer
from certdesk.store.models.installation import (
    AuditHead,
    AuditRow,
    DataKey,
    InstallationFact,
    WorkerBeat,
)
from certdesk.store.models.mail import MailPreference, Notice, Webhook, WebhookDelivery
from certdesk.store.models.organizations import (
    ApiToken,
    Contact,
    Enrollment,
    GrantRow,
    Organization,
    SubmittalContact,
    User,
    UserRole,
)
from certdesk.store.models.vendors import AcmeChallenge, AcmeIssuerRow, VendorContract, VendorOrder
from certdesk.store.models.verification import (
    CtFinding,
    CtLog,
    DiscoveryJob,
    EndpointCheck,
    EndpointFinding,
    EndpointSighting,
    ExternalCertificate,
    ExternalContact,
)

__all__ = [
    "AcmeAccount",
    "AcmeAuthorization",
    "AcmeChallenge",
    "AcmeEabKey",
    "AcmeIssuerRow",
    "AcmeNonce",
    "AcmeOrder",
    "AcmePersistRecord",
    "AcmeServerChallenge",
    "ApiToken",
    "Approval",
    "ApprovalPolicy",
    "AuditHead",
    "AuditRow",
    "Base",
    "Case",
    "CaseAttachment",
    "CaseEvent",
    "CertificateName",
    "CertificateRow",
    "Comment",
    "Contact",
    "Counter",
    "CrlRow",
    "CtFinding",
    "CtLog",
    "DataKey",
    "DiscoveryJob",
    "EndpointCheck",
    "EndpointFinding",
    "EndpointSighting",
    "Enrollment",
    "ExternalCertificate",
    "ExternalContact",
    "GrantRow",
    "InstallationFact",
    "Issuer",
    "MailPreference",
    "Notice",
    "Organization",
    "Submittal",
    "SubmittalContact",
    "User",
    "UserRole",
    "VendorContract",
    "VendorOrder",
    "Webhook",
    "WebhookDelivery",
    "WorkerBeat",
]
