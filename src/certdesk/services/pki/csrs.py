"""CSR validation and generation (R12)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certdesk.core.access import Actor
from certdesk.core.grants import Verdict, judge, require_allowed
from certdesk.core.keys import CsrFacts, KeyType, check_csr, generate_private_key, parse_csr
from certdesk.core.names import check_name_count
from certdesk.errors import InvalidInput
from certdesk.services.pki.policy import PolicyService
from certdesk.services.runtime import Runtime

MAX_CSR_BYTES = 64 * 1024
# OpenSSL's PEM encryption of a private key takes a passphrase of at most 1,023 bytes.
MAX_PASSPHRASE_BYTES = 1023


@dataclass(frozen=True)
class CsrReport:
    facts: CsrFacts
    verdicts: tuple[Verdict, ...]

    @property
    def acceptable(self) -> bool:
        return all(v.allowed for v in self.verdicts)

    def as_dict(self) -> dict[str, object]:
        return {
            "acceptable": self.acceptable,
            "key_type": str(self.facts.key_type),
            "signature_hash": self.facts.signature_hash,
            "subject": self.facts.subject,
            "names": [v.as_dict() for v in self.verdicts],
        }


@dataclass(frozen=True)
class NewCsr:
    key_pem: bytes
    csr_pem: bytes
    names: tuple[str, ...]


def parse_key_type(value: str) -> KeyType:
    try:
        return KeyType(value)
    except ValueError:
        choices = ", ".join(k.value for k in KeyType)
        raise InvalidInput(
            "key.type", f"unknown key type {value!r}; use one of {choices}"
        ) from None


class CsrService:
    def __init__(self, rt: Runtime, policy: PolicyService) -> None:
        self._rt = rt
        self._policy = policy

    def validate(self, actor: Actor, data: bytes, org_code: str | None) -> CsrReport:
        """Key, signature (R12) and names (R1, and R2 when an organization is given)."""
        if len(data) > MAX_CSR_BYTES:
            raise InvalidInput("csr.too_large", f"a CSR is at most {MAX_CSR_BYTES} bytes")
        facts = check_csr(parse_csr(data))
        check_name_count(facts.names, self._rt.settings.max_names_per_cert)  # before judging
        grants = (
            self._policy.grants_for(actor, org_code) if org_code or not actor.is_global else None
        )
        suffixes = self._rt.settings.allowed_suffixes
        return CsrReport(facts, tuple(judge(n, suffixes, grants) for n in facts.names))

    def generate(
        self, names: Sequence[str], key_type: KeyType, passphrase: str | None = None
    ) -> NewCsr:
        """A new key and a CSR whose names are in the SAN (R1 checked; the subject is empty)."""
        settings = self._rt.settings
        normalized = tuple(
            require_allowed(
                names, settings.allowed_suffixes, None, max_names=settings.max_names_per_cert
            )
        )
        if passphrase and len(passphrase.encode()) > MAX_PASSPHRASE_BYTES:
            raise InvalidInput(
                "csr.passphrase",
                f"the passphrase is longer than {MAX_PASSPHRASE_BYTES:,} bytes, the most an"
                " encrypted key file takes",
            )
        key = generate_private_key(key_type)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in normalized]),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        return NewCsr(key_pem, csr.public_bytes(serialization.Encoding.PEM), normalized)
