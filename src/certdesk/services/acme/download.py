"""A certificate's download (RFC 8555 §7.4.2): the PEM chain, the leaf then its issuing
CA(s), read with one Core statement (``store.acme_reads.certificate``).

The built-in CA's issuing chain above a leaf is the same for every certificate of that CA
and a CA certificate never changes, so each process keeps it per issuer once read."""

from __future__ import annotations

import threading

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.core.certificates import BOOKKEEPING, CertStatus
from certdesk.errors import NotFound
from certdesk.services.runtime import Runtime
from certdesk.store import acme_reads
from certdesk.store import issuers as issuer_store

_PEM = serialization.Encoding.PEM


class Downloads:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._lock = threading.Lock()
        self._chains: dict[int, bytes] = {}  # issuer id → its issuing chain, PEM

    def chain(self, account_id: int, org_id: int, serial: str) -> bytes:
        """The PEM chain of certificate ``serial`` (stored form) if an order of the account
        produced it and the account's organization holds it; NotFound otherwise, as for an
        unknown serial (a certificate still being signed, or voided, is nobody's to see)."""
        with self._rt.reading() as conn:
            row = acme_reads.certificate(conn, serial, account_id)
        if (
            row is None
            or row.der is None
            or CertStatus(row.status) in BOOKKEEPING
            or row.org_id != org_id
        ):
            raise NotFound("acme.not_found", "no such certificate")
        leaf = x509.load_der_x509_certificate(row.der).public_bytes(_PEM)
        if row.chain_pem is not None:  # a vendor's certificate keeps the chain it came with
            certs = x509.load_pem_x509_certificates(row.chain_pem.encode())
            return leaf + b"".join(c.public_bytes(_PEM) for c in certs)
        if row.issuer_id is None:  # no chain recorded and no built-in issuer: the leaf alone
            return leaf
        return leaf + self._issuing_chain(row.issuer_id)

    def _issuing_chain(self, issuer_id: int) -> bytes:
        with self._lock:
            known = self._chains.get(issuer_id)
        if known is not None:
            return known
        out = []
        with self._rt.reads() as s:
            current = issuer_store.by_id(s, issuer_id)
            while current is not None and not current.is_root:
                out.append(x509.load_der_x509_certificate(current.cert_der).public_bytes(_PEM))
                current = issuer_store.by_id(s, current.parent_id) if current.parent_id else None
        chain = b"".join(out)
        with self._lock:
            self._chains[issuer_id] = chain
        return chain
