"""The built-in CA: an issuing intermediate whose key lives in an encrypted file."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509 import ocsp

from certdesk.ca.issuer import (
    IssuedChain,
    Issuer,
    IssueRequest,
    Journal,
    OcspLookup,
    Pending,
    Prepared,
    RevokedEntry,
    SigningIntent,
)
from certdesk.ca.lint import LintFailure, lint_tls_server
from certdesk.ca.profile import IssuerUrls, LeafRequest, hash_for, new_serial, tls_server_leaf
from certdesk.errors import Conflict, InvalidInput


def spki_slug(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> str:
    """A short stable id of a CA key: the first 8 bytes of SHA-256 over its SPKI, in hex."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()[:16]


def _lint_key_like(key: CertificateIssuerPrivateKeyTypes) -> CertificateIssuerPrivateKeyTypes:
    # A throw-away key of the same algorithm and size produces the same signature algorithm
    # identifier, so the lint certificate's TBS is byte-for-byte the TBS that gets signed.
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(key.curve)
    if isinstance(key, rsa.RSAPrivateKey):
        return rsa.generate_private_key(65537, key.key_size)
    raise TypeError("unsupported CA key type")


class LocalCA:
    """Issuer, CRL signer and OCSP signer for one built-in issuing CA.

    It implements the :class:`~certdesk.ca.issuer.Issuer` seam (``issue`` = prepare, journal
    the intent, sign) and the two steps separately for the pipeline that records its own
    intent between them (``services/pki/issuance.py``).
    """

    def __init__(
        self,
        *,
        certificate: x509.Certificate,
        key: CertificateIssuerPrivateKeyTypes,
        parents: Sequence[x509.Certificate],
        urls: IssuerUrls,
        suffixes: Sequence[str],
    ) -> None:
        self._cert = certificate
        self._key = key
        self._parents = list(parents)
        self._urls = urls
        self._suffixes = tuple(suffixes)
        self._hash = hash_for(key)
        self._lint_key = _lint_key_like(key)
        pub = certificate.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise TypeError("unsupported CA key type")
        self._slug = spki_slug(pub)

    @property
    def slug(self) -> str:
        return self._slug

    @property
    def backend(self) -> str:
        return "local"

    def issue(self, request: IssueRequest, journal: Journal) -> IssuedChain:
        """Prepare and lint, let the journal record the intent, then sign those bytes once."""
        public_key = request.csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise InvalidInput("csr.key_type", "only RSA and ECDSA keys are certified (R12)")
        prepared = self.prepare(
            LeafRequest(
                serial=new_serial(),
                public_key=public_key,
                names=request.names,
                not_before=request.not_before,
                not_after=request.not_after,
            ),
            max_days=request.max_days,
        )
        journal.record(SigningIntent(prepared.request.serial, prepared.tbs_sha256))
        return IssuedChain(leaf=self.sign(prepared), chain=tuple(self.chain()))

    def resume(self, request: IssueRequest, pending: Pending, journal: Journal) -> IssuedChain:
        # The built-in CA answers at once; a pending handle can only come from another backend.
        raise Conflict(
            "issuer.not_pending", f"the built-in CA has no pending issuance ({pending.backend})"
        )

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    def chain(self) -> list[x509.Certificate]:
        return [self._cert, *(p for p in self._parents if p.subject != p.issuer)]

    def prepare(self, request: LeafRequest, *, max_days: int) -> Prepared:
        """Build the leaf, sign it with the lint key, lint it; nothing is signed for real."""
        builder = tls_server_leaf(request, self._cert, self._urls)
        draft = builder.sign(self._lint_key, self._hash)
        lint_tls_server(draft, self._cert, max_days=max_days, suffixes=self._suffixes)
        return Prepared(
            request=request,
            tbs_sha256=hashlib.sha256(draft.tbs_certificate_bytes).hexdigest(),
            builder=builder,
        )

    def sign(self, prepared: Prepared) -> x509.Certificate:
        """Sign the prepared certificate once and prove the signature covers the linted TBS."""
        cert = prepared.builder.sign(self._key, self._hash)
        if hashlib.sha256(cert.tbs_certificate_bytes).hexdigest() != prepared.tbs_sha256:
            # Unreachable unless the builder is not deterministic; never hand such bytes out.
            raise LintFailure("lint.tbs_mismatch", "signed TBS differs from the linted TBS")
        return cert

    def sign_crl(
        self,
        revoked: list[RevokedEntry],
        *,
        number: int,
        this_update: datetime,
        next_update: datetime,
    ) -> bytes:
        """A complete CRL (RFC 5280 §5) with a CRL number and the issuer's AKI."""
        ski = self._cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._cert.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
        )
        for entry in revoked:
            item = (
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
            )
            # BR §7.2.2: reasonCode is omitted for "unspecified".
            if entry.reason is not x509.ReasonFlags.unspecified:
                item = item.add_extension(x509.CRLReason(entry.reason), critical=False)
            builder = builder.add_revoked_certificate(item.build())
        crl = builder.sign(self._key, self._hash)
        return crl.public_bytes(serialization.Encoding.DER)

    def sign_ocsp(
        self,
        request_der: bytes,
        lookup: OcspLookup,
        *,
        now: datetime,
        validity_hours: int,
    ) -> bytes:
        """An RFC 6960 response signed by the CA itself (no delegated responder).

        A malformed request gets ``malformedRequest``; a request for another issuer gets
        ``unauthorized`` (RFC 5019 §2.2.3); a serial this CA never issued gets ``unknown``.
        """
        try:
            req = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if not self.answers_for(req):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        this_update = now.replace(microsecond=0)
        next_update = this_update + timedelta(hours=validity_hours)
        found = lookup(req.serial_number)
        builder = ocsp.OCSPResponseBuilder()
        if found is None:
            builder = builder.add_response_by_hash(
                issuer_name_hash=req.issuer_name_hash,
                issuer_key_hash=req.issuer_key_hash,
                serial_number=req.serial_number,
                algorithm=req.hash_algorithm,
                cert_status=ocsp.OCSPCertStatus.UNKNOWN,
                this_update=this_update,
                next_update=next_update,
                revocation_time=None,
                revocation_reason=None,
            )
        else:
            revoked = found.revoked_at is not None
            # BR §7.3: the OCSP revocationReason must be a value permitted in CRLs (§7.2.2),
            # which excludes unspecified (0): like the CRL entry, it is then left out.
            reason = found.reason if found.reason is not x509.ReasonFlags.unspecified else None
            builder = builder.add_response(
                cert=found.certificate,
                issuer=self._cert,
                algorithm=req.hash_algorithm,
                cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
                this_update=this_update,
                next_update=next_update,
                revocation_time=found.revoked_at,
                revocation_reason=reason if revoked else None,
            )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self._cert)
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):  # RFC 8954: echo the client's nonce
                builder = builder.add_extension(ext.value, critical=False)
        resp = builder.sign(self._key, hashes.SHA256())
        return resp.public_bytes(serialization.Encoding.DER)

    def answers_for(self, req: ocsp.OCSPRequest) -> bool:
        """Whether an OCSP request names this CA as the issuer (RFC 6960 §4.1.1 CertID)."""
        algo = req.hash_algorithm
        name_hash = _digest(algo, self._cert.subject.public_bytes())
        key_bytes = self._cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # RFC 6960 §4.1.1: issuerKeyHash is over the BIT STRING contents of the SPKI, i.e.
        # the raw public key, which is what load_der_public_key gives back when re-encoded.
        raw_key = _spki_bit_string(key_bytes)
        return req.issuer_name_hash == name_hash and req.issuer_key_hash == _digest(algo, raw_key)


def _digest(algo: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algo)
    h.update(data)
    return h.finalize()


def _spki_bit_string(spki_der: bytes) -> bytes:
    """The subjectPublicKey BIT STRING contents of a DER SubjectPublicKeyInfo."""
    # SPKI ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    pos = _skip_header(spki_der, 0)  # into the outer SEQUENCE
    pos = _skip_element(spki_der, pos)  # over AlgorithmIdentifier
    if spki_der[pos] != 0x03:
        raise ValueError("SPKI without a BIT STRING")
    start = _skip_header(spki_der, pos)
    return spki_der[start + 1 :]  # drop the unused-bits octet


def _skip_header(der: bytes, pos: int) -> int:
    length = der[pos + 1]
    if length < 0x80:
        return pos + 2
    return pos + 2 + (length & 0x7F)


def _skip_element(der: bytes, pos: int) -> int:
    length = der[pos + 1]
    if length < 0x80:
        return pos + 2 + length
    n = length & 0x7F
    return pos + 2 + n + int.from_bytes(der[pos + 2 : pos + 2 + n], "big")


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


if TYPE_CHECKING:  # the seam is typed: mypy checks LocalCA against the protocols
    _issuer: type[Issuer] = LocalCA
