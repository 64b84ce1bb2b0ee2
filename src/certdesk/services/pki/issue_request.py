"""Steps 1 and 2 of the issuance pipeline: the request judged on its own, then profiled and
linted. Nothing here touches the database (services/pki/issuance.py has the whole story)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from sqlalchemy import Connection

from certdesk.ca.issuer import Prepared
from certdesk.ca.profile import LeafRequest, new_serial
from certdesk.config import Settings
from certdesk.core.calendar import Validity, max_validity_days, validity_for
from certdesk.core.grants import require_allowed
from certdesk.core.keys import CsrFacts, check_csr, parse_csr
from certdesk.errors import InvalidInput
from certdesk.services.pki.authority import LoadedCA


class Platform(StrEnum):
    """R11: the server platform a certificate is for."""

    DEDICATED = "dedicated"
    VIRTUAL = "virtual"


def parse_platform(value: str) -> Platform:
    try:
        return Platform(value)
    except ValueError:
        raise InvalidInput(
            "cert.platform", f"platform must be 'dedicated' or 'virtual', not {value!r}"
        ) from None


@dataclass(frozen=True)
class IssueCommand:
    org_code: str
    csr: bytes
    platform: Platform = Platform.VIRTUAL
    days: int | None = None
    renewal_of: str | None = None  # serial of the certificate this one replaces
    # R16: cert services' choice of issuer for this certificate (a submittal's issuer id);
    # None: the grant's covering the names, else the organization's, else the built-in CA.
    issuer_id: int | None = None
    # The submittal this certificate is for: a vendor order is placed once per submittal.
    submittal_id: int | None = None
    # Written in the transaction that makes the built-in CA's certificate active (step 5),
    # given the new row's id, so that it shares that forced commit (an ACME order's move
    # to valid); it must not raise. Not called for a vendor's certificate.
    on_stored: Callable[[Connection, int], None] | None = None


@dataclass(frozen=True)
class IssueRequest:
    """Step 1's result: the request judged on its own, before any stored state is read."""

    cmd: IssueCommand
    org_code: str
    csr: x509.CertificateSigningRequest
    facts: CsrFacts
    names: tuple[str, ...]  # normalized (R1), deduplicated, in request order
    validity: Validity
    now: datetime


def judge(settings: Settings, cmd: IssueCommand, now: datetime) -> IssueRequest:
    """Step 1: policy on the request itself. The CSR is judged before anything touches the
    database (R12), and so are R1 (any name, whoever asks) and R13; R2 needs the grants."""
    csr = parse_csr(cmd.csr)
    facts = check_csr(csr)
    return IssueRequest(
        cmd=cmd,
        org_code=cmd.org_code.strip().lower(),
        csr=csr,
        facts=facts,
        names=tuple(
            require_allowed(
                facts.names, settings.allowed_suffixes, max_names=settings.max_names_per_cert
            )
        ),
        validity=validity_for(now, cmd.days, settings.max_validity_days),  # R13 + R7
        now=now,
    )


def prepare(loaded: LoadedCA, req: IssueRequest) -> Prepared:
    """Step 2: build the leaf and lint it (signed only with the lint key)."""
    return loaded.ca.prepare(
        LeafRequest(
            serial=new_serial(),
            public_key=req.csr.public_key(),
            names=req.names,
            not_before=req.validity.not_before,
            not_after=req.validity.not_after,
        ),
        max_days=max_validity_days(req.now),
    )
