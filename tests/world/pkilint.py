"""pkilint in this process: what ``lint_cabf_serverauth_cert lint -t TYPE FILE`` reports, with
the validator tree built once per certificate type (tests/ca/test_pkilint.py,
tests/ca/test_vendor_lint.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkilint import finding_filter, loader
from pkilint.cabf import serverauth
from pkilint.cabf.serverauth.serverauth_constants import CertificateType
from pkilint.pkix import certificate as pkix_certificate

DV = CertificateType.DV_FINAL_CERTIFICATE
BLOCKING = frozenset({"FATAL", "ERROR"})


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.severity} {self.code} @ {self.path}: {self.message or ''}"


@dataclass(frozen=True)
class Linted:
    cert: x509.Certificate
    cert_type: CertificateType
    detected: CertificateType
    pem_file: Path
    findings: tuple[Finding, ...]

    def codes(self, severities: frozenset[str]) -> set[str]:
        return {f.code for f in self.findings if f.severity in severities}


@functools.cache
def _validator(cert_type: CertificateType) -> Any:
    """Building pkilint's validator tree is 95% of its run time; pkilint's REST server also
    builds each once and reuses it for every request."""
    return pkix_certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(cert_type)
    )


def pkilint_serverauth(pem_file: Path, cert_type: CertificateType) -> Linted:
    """What ``lint_cabf_serverauth_cert lint -t TYPE FILE`` does, in this process."""
    doc = loader.RFC5280CertificateDocumentLoader().load_pem_document(
        pem_file.read_text(), str(pem_file)
    )
    results = _validator(cert_type).validate(doc.root)
    results, _ = finding_filter.filter_results(
        serverauth.create_serverauth_finding_filters(cert_type), results
    )
    findings = tuple(
        Finding(d.finding.severity.name, d.finding.code, d.message, r.node.path)
        for r in results
        for d in r.finding_descriptions
    )
    cert = x509.load_pem_x509_certificate(pem_file.read_bytes())
    detected = serverauth.determine_certificate_type(doc)
    return Linted(cert, cert_type, detected, pem_file, findings)


def pkilint_cert(cert: x509.Certificate, directory: Path, name: str = "leaf") -> Linted:
    """:func:`pkilint_serverauth` of ``cert`` as a DV leaf, written to ``directory``."""
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pkilint_serverauth(path, DV)
