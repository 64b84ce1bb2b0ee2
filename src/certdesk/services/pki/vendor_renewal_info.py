"""Renewal information (RFC 9773) for the vendors' certificates, asked by the worker.

A vendor moves a certificate's renewal window earlier before a mass revocation: the renewal
plan (R6) then opens the renewal case at the window's start (``vendor_renew_at``).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from cryptography import x509

from certdesk.errors import CertdeskError
from certdesk.services.pki.vendor_backends import VendorBackends
from certdesk.services.runtime import Runtime
from certdesk.store import renewals as renewal_store

# RFC 9773 §4.3: ask again when the vendor says; these when it cannot say.
RENEWAL_INFO_RETRY = timedelta(hours=1)  # the vendor did not answer
NO_RENEWAL_INFO_RECHECK = timedelta(days=7)  # the vendor offers no renewal information

log = structlog.get_logger("certdesk.vendor")


def refresh_renewal_info(rt: Runtime, backends: VendorBackends, *, limit: int = 50) -> int:
    """Ask the vendors when their certificates should be renewed, for the ones whose time
    to ask has come; returns how many answers were recorded.

    A vendor without renewal information is asked again after
    :data:`NO_RENEWAL_INFO_RECHECK`; an unreachable one after :data:`RENEWAL_INFO_RETRY`.
    """
    now = rt.clock()
    with rt.reads() as s:
        due = renewal_store.renewal_info_due(s, now, limit)
    recorded = 0
    for cert_id, issuer_id, der in due:
        certificate = x509.load_der_x509_certificate(der)
        try:
            window = backends.backend(issuer_id).renewal_info(certificate)
        except CertdeskError as exc:
            log.info("renewal information unavailable", certificate=cert_id, error=exc.code)
            renew_at, ask_again = None, now + RENEWAL_INFO_RETRY
        else:
            if window is None:
                renew_at, ask_again = None, now + NO_RENEWAL_INFO_RECHECK
            else:
                renew_at, ask_again = window.start, max(window.retry_after, now)
        with rt.sessions.begin() as s:
            renewal_store.set_renewal_info(s, cert_id, renew_at=renew_at, ask_again_at=ask_again)
        recorded += 1
    return recorded
