"""Revocation over ACME (RFC 8555 §7.6, R17): by the account that ordered the certificate,
or by whoever signs with the certificate's own key, through the one revocation service."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.core.access import Actor, Role
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound
from certdesk.services.acme.accounts import AccountView
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.store import acme_server as acme_store
from certdesk.store import certificates as cert_store

# RFC 5280 §5.3.1 reason codes a subscriber may give over ACME (§7.6), as certdesk's reasons.
REVOCATION_REASONS = {
    0: Reason.UNSPECIFIED,
    1: Reason.KEY_COMPROMISE,
    3: Reason.AFFILIATION_CHANGED,
    4: Reason.SUPERSEDED,
    5: Reason.CESSATION_OF_OPERATION,
}


class AcmeRevocations:
    def __init__(self, rt: Runtime, revocation: RevocationService) -> None:
        self._rt = rt
        self._revocation = revocation

    def revoke(
        self,
        account: AccountView | None,
        cert_der: bytes,
        reason_code: int | None,
        jwk_spki: bytes | None,
    ) -> None:
        """Revoke by the account that ordered the certificate, or by whoever signs with the
        certificate's own key (``jwk_spki``: the request's key, SubjectPublicKeyInfo DER)."""
        if reason_code is None:
            reason = Reason.UNSPECIFIED
        elif isinstance(reason_code, bool) or reason_code not in REVOCATION_REASONS:
            raise InvalidInput(
                "acme.bad_revocation_reason", f"reason {reason_code} is not accepted"
            )
        else:
            reason = REVOCATION_REASONS[reason_code]
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError:
            raise InvalidInput("acme.malformed", "the certificate is not DER") from None
        serial = format(cert.serial_number, "x")
        with self._rt.reads() as s:
            row = cert_store.by_serial(s, serial)
            if row is None or row.der != cert_der:
                raise NotFound("acme.not_found", "certdesk did not issue this certificate")
            if account is not None:
                if acme_store.account_of_certificate(s, row.id) != account.id:
                    raise Forbidden(
                        "acme.unauthorized", "this account did not order the certificate"
                    )
                actor = account.actor()
            else:
                spki = cert.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                if jwk_spki != spki:
                    raise Forbidden(
                        "acme.unauthorized", "the request is not signed by the certificate's key"
                    )
                actor = Actor(
                    name=f"acme:certificate-key:{serial}",
                    role=Role.DELEGATED_ADMIN,
                    org_id=row.org_id,
                )
        try:
            self._revocation.revoke(actor, serial, reason)
        except Conflict as exc:
            if exc.code == "cert.revoked":
                raise Conflict("acme.already_revoked", exc.detail) from None
            raise
