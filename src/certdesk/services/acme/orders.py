"""Orders, authorizations, challenges, finalization and revocation over ACME (RFC 8555 §7.4
to §7.6, R17): the registration authority of the ACME server.

1. newOrder judges every identifier under R1 and the account's organization's grants (R2)
   before anything is stored; a refusal names each rejected identifier and its rule.
2. The order must fit the rate limits and may reuse the account's recent validations
   (services/acme/limits.py); ``replaces`` must name a certificate of the organization not
   replaced yet (RFC 9773 §5, services/acme/renewal_info.py); ``profile`` must be one the
   directory offers. Each name gets an authorization: valid at once when reused, else with
   http-01 and dns-01 challenges (dns-01 only for a wildcard, §7.1.3).
3. A challenge the client answers is validated by the VA (services/acme/validation.py) in
   the validation pool, outside every request transaction.
4. finalize re-checks the CSR (R12 key and signature, R1 names, the name limit) and that it
   names exactly the order's identifiers; then the order is ``processing`` — a conditional
   update, so two finalizations never both sign — and the certificate is issued through the
   one issuance pipeline (services/pki/issuance.py) as the account's principal, so R2, R11,
   R13, R7 and the audit (R15) apply as for any issuance and the certificate lands in the
   inventory under the organization.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from certdesk.core.access import Actor, Role
from certdesk.core.acme_profiles import profile_days
from certdesk.core.acme_states import (
    AuthzStatus,
    ChallengeStatus,
    ChallengeType,
    OrderStatus,
    authz_status,
    b64url,
    identifier_base,
    key_authorization,
    offered_challenges,
    order_status,
)
from certdesk.core.grants import Grant, GrantKind, require_allowed
from certdesk.core.keys import check_csr, parse_csr
from certdesk.errors import (
    CertdeskError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyRefusal,
)
from certdesk.services.acme.accounts import AccountView
from certdesk.services.acme.limits import check_limits, reusable
from certdesk.services.acme.renewal_info import cert_id_of, replacement_target
from certdesk.services.acme.validation import (
    ValidationFailed,
    ValidationPool,
    ValidationTask,
    Validator,
)
from certdesk.services.audit import AuditService
from certdesk.services.pki.inventory import ExportFormat, InventoryService
from certdesk.services.pki.issuance import IssuanceService, IssueCommand
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.store import acme_server as acme_store
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store
from certdesk.store.models import AcmeAuthorization, AcmeOrder, AcmeServerChallenge

log = structlog.get_logger("certdesk.acme")

# How long an authorization may wait to be proved (RFC 8555 §7.1.4 "expires").
AUTHZ_LIFETIME = timedelta(days=7)

# RFC 5280 §5.3.1 reason codes a subscriber may give over ACME (§7.6), as certdesk's reasons.
REVOCATION_REASONS = {
    0: Reason.UNSPECIFIED,
    1: Reason.KEY_COMPROMISE,
    3: Reason.AFFILIATION_CHANGED,
    4: Reason.SUPERSEDED,
    5: Reason.CESSATION_OF_OPERATION,
}


@dataclass(frozen=True)
class ChallengeView:
    id: int
    authz_id: int
    kind: ChallengeType
    token: str
    status: ChallengeStatus
    validated_at: datetime | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class AuthzView:
    id: int
    order_id: int
    name: str
    wildcard: bool
    status: AuthzStatus
    expires_at: datetime
    challenges: tuple[ChallengeView, ...]


@dataclass(frozen=True)
class OrderView:
    id: int
    status: OrderStatus
    names: tuple[str, ...]
    expires_at: datetime
    authz_ids: tuple[int, ...]
    error: dict[str, Any] | None
    certificate_serial: str | None
    profile: str | None = None
    replaces: str | None = None  # the certID (RFC 9773 §4.1) of the certificate it replaces


def _challenge(row: AcmeServerChallenge) -> ChallengeView:
    return ChallengeView(
        row.id, row.authz_id, row.type, row.token, row.status, row.validated_at, row.error
    )


class AcmeOrders:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        issuance: IssuanceService,
        inventory: InventoryService,
        revocation: RevocationService,
        validators: dict[ChallengeType, Validator],
        pool: ValidationPool,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._issuance = issuance
        self._inventory = inventory
        self._revocation = revocation
        self._validators = validators
        self._pool = pool

    # --- newOrder (§7.4) -------------------------------------------------------------------

    def new_order(
        self,
        account: AccountView,
        names: list[str],
        *,
        replaces: str | None = None,
        profile: str | None = None,
    ) -> OrderView:
        """RFC 8555 §7.4, with ``replaces`` (RFC 9773 §5) and ``profile``
        (draft-aaron-acme-profiles)."""
        settings = self._rt.settings
        now = self._rt.clock()
        profile_days(profile, settings.acme_shortlived_days)  # an unknown profile is refused
        with self._rt.sessions.begin() as s:
            org = org_store.by_id(s, account.org_id)
            if org is None or not org.self_managed:
                raise Forbidden(
                    "acme.unauthorized",
                    "the account's organization is managed: its certificates come through cases",
                )
            grants = [
                Grant(GrantKind(k), n) for k, n in org_store.grants_of(s.connection(), org.id)
            ]
            try:
                normalized = require_allowed(
                    names, settings.allowed_suffixes, grants, max_names=settings.max_names_per_cert
                )
            except PolicyRefusal as exc:
                extra = {k: v for k, v in exc.extra.items() if k != "rule"}
                raise PolicyRefusal(
                    "acme.rejected_identifier", exc.detail, rule=exc.rule, **extra
                ) from None
            replaces_id = replacement_target(s, account, replaces, normalized, now)
            reuse = reusable(s, settings, account, normalized, now)
            check_limits(s, settings, account, len(normalized) - len(reuse), now)
            order = acme_store.add_order(
                s,
                account_id=account.id,
                org_id=org.id,
                names=normalized,
                expires_at=now + timedelta(hours=settings.acme_order_hours),
                created_at=now,
                replaces_id=replaces_id,
                profile=profile,
            )
            for name in normalized:
                base, wildcard = identifier_base(name)
                validated = reuse.get(name)
                authz = acme_store.add_authorization(
                    s,
                    order_id=order.id,
                    account_id=account.id,
                    name=base,
                    wildcard=wildcard,
                    expires_at=min(now + AUTHZ_LIFETIME, order.expires_at)
                    if validated is None
                    else validated[0],
                    created_at=now,
                )
                if validated is not None:
                    # Reused (§7.1.4, SC-081): valid at once, through its earlier proof.
                    acme_store.add_reused_challenge(
                        s,
                        authz,
                        kind=validated[1],
                        token=b64url(secrets.token_bytes(32)),
                        validated_at=validated[2],
                    )
                    continue
                for kind in offered_challenges(wildcard):
                    acme_store.add_challenge(
                        s, authz_id=authz.id, kind=kind, token=b64url(secrets.token_bytes(32))
                    )
            self._audit.record(
                s,
                account.actor(),
                "acme.order.create",
                "acme_order",
                order.id,
                organization=org.code,
                names=normalized,
                replaces=replaces,
                profile=profile,
                reused=sorted(reuse),
            )
            return self._order_view(s, order, now)

    # --- reading ----------------------------------------------------------------------------

    def order(self, account: AccountView, order_id: int) -> OrderView:
        with self._rt.reads() as s:
            return self._order_view(s, self._own_order(s, account, order_id), self._rt.clock())

    def orders(self, account: AccountView) -> list[int]:
        with self._rt.reads() as s:
            return acme_store.orders_of(s, account.id)

    def authorization(self, account: AccountView, authz_id: int) -> AuthzView:
        with self._rt.reads() as s:
            return self._authz_view(s, self._own_authz(s, account, authz_id), self._rt.clock())

    def challenge(self, account: AccountView, challenge_id: int) -> ChallengeView:
        with self._rt.reads() as s:
            return _challenge(self._own_challenge(s, account, challenge_id)[0])

    # --- challenges (§7.5.1) ----------------------------------------------------------------

    def respond(self, account: AccountView, challenge_id: int) -> ChallengeView:
        """The client says it is ready: validate in the pool (once; a repeated answer to a
        challenge already under way or done changes nothing, §7.5.1)."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            chall, authz = self._own_challenge(s, account, challenge_id)
            current = authz_status(
                authz.status,
                [c.status for c in acme_store.challenges_of(s, [authz.id])],
                authz.expires_at,
                now,
            )
            started = current is AuthzStatus.PENDING and acme_store.start_challenge(s, chall.id)
            task = ValidationTask(
                chall.id,
                chall.type,
                authz.name,
                chall.token,
                key_authorization(chall.token, account.thumbprint),
            )
        if started:
            self._pool.submit(lambda: self._validate(account, task))
        return self.challenge(account, challenge_id)

    def _validate(self, account: AccountView, task: ValidationTask) -> None:
        """Run in the validation pool: the VA's check, then its result in one transaction."""
        error: dict[str, Any] | None = None
        try:
            self._validators[task.kind].validate(task)
        except ValidationFailed as exc:
            error = exc.problem()
        except Exception as exc:  # a bug or an unexpected network failure: the challenge fails
            log.error("validation error", challenge=task.challenge_id, error=repr(exc)[:300])
            error = {
                "type": "urn:ietf:params:acme:error:serverInternal",
                "detail": "validation could not be completed",
                "status": 500,
            }
        try:
            with self._rt.sessions.begin() as s:
                acme_store.record_challenge(
                    s, task.challenge_id, valid=error is None, at=self._rt.clock(), error=error
                )
                self._audit.record(
                    s,
                    account.actor(),
                    "acme.challenge.valid" if error is None else "acme.challenge.invalid",
                    "acme_challenge",
                    task.challenge_id,
                    name=task.name,
                    method=str(task.kind),
                    problem=None if error is None else error["detail"],
                )
        except Exception as exc:
            log.error(
                "recording a validation failed", challenge=task.challenge_id, error=repr(exc)[:300]
            )

    def deactivate_authorization(self, account: AccountView, authz_id: int) -> AuthzView:
        """RFC 8555 §7.5.2: the client gives up an authorization."""
        with self._rt.sessions.begin() as s:
            authz = self._own_authz(s, account, authz_id)
            if authz.status not in (AuthzStatus.PENDING, AuthzStatus.VALID):
                raise InvalidInput("acme.malformed", f"authorization is {authz.status}")
            acme_store.deactivate_authorization(authz)
            self._audit.record(
                s, account.actor(), "acme.authz.deactivate", "acme_authorization", authz.id
            )
            return self._authz_view(s, authz, self._rt.clock())

    # --- finalize (§7.4) --------------------------------------------------------------------

    def finalize(self, account: AccountView, order_id: int, csr_der: bytes) -> OrderView:
        settings = self._rt.settings
        with self._rt.reads() as s:
            row = self._own_order(s, account, order_id)
            view = self._order_view(s, row, self._rt.clock())
            replaced = None if row.replaces_id is None else cert_store.by_id(s, row.replaces_id)
        if view.status is not OrderStatus.READY:
            raise Conflict("acme.order_not_ready", f"the order is {view.status}, not ready")
        # R12 and R1 on the CSR before the order changes: a bad CSR leaves the order ready.
        try:
            facts = check_csr(parse_csr(csr_der))
            names = require_allowed(
                facts.names, settings.allowed_suffixes, max_names=settings.max_names_per_cert
            )
        except CertdeskError as exc:
            raise InvalidInput("acme.bad_csr", f"the CSR is refused: {exc.detail}") from None
        if sorted(names) != sorted(view.names):
            raise InvalidInput(
                "acme.bad_csr",
                "the CSR's names differ from the order's: "
                f"CSR {', '.join(sorted(names))}; order {', '.join(sorted(view.names))}",
            )
        with self._rt.sessions.begin() as s:
            if not acme_store.mark_order(
                s, order_id, OrderStatus.PROCESSING, expect=[OrderStatus.PENDING]
            ):
                raise Conflict("acme.order_not_ready", "the order is already being finalized")
        try:
            issued = self._issuance.issue(
                account.actor(),
                IssueCommand(
                    org_code=account.org_code,
                    csr=csr_der,
                    # The profile's validity (draft-aaron-acme-profiles), under R13 and R7.
                    days=profile_days(view.profile, settings.acme_shortlived_days),
                    # RFC 9773 §5: the inventory records the new certificate as the renewal.
                    renewal_of=None if replaced is None else replaced.serial,
                ),
            )
        except CertdeskError as exc:
            with self._rt.sessions.begin() as s:
                acme_store.mark_order(
                    s,
                    order_id,
                    OrderStatus.INVALID,
                    expect=[OrderStatus.PROCESSING],
                    error={
                        "type": "urn:ietf:params:acme:error:unauthorized"
                        if exc.kind.value == "forbidden"
                        else "urn:ietf:params:acme:error:badCSR",
                        "detail": exc.detail,
                        "status": 403 if exc.kind.value == "forbidden" else 400,
                    },
                )
            raise
        with self._rt.sessions.begin() as s:
            owner = cert_store.owner_of(s.connection(), issued.serial)
            assert owner is not None  # issue() returns only once the row is active
            acme_store.mark_order(
                s,
                order_id,
                OrderStatus.VALID,
                expect=[OrderStatus.PROCESSING],
                certificate_id=owner[0],
            )
        return self.order(account, order_id)

    def certificate(self, account: AccountView, serial: str) -> bytes:
        """The PEM chain (§7.4.2): the leaf, then the issuing CA(s)."""
        with self._rt.reads() as s:
            row = cert_store.by_serial(s, serial)
            if row is None or acme_store.account_of_certificate(s, row.id) != account.id:
                raise NotFound("acme.not_found", "no such certificate")
        return self._inventory.export(account.actor(), serial, ExportFormat.CHAIN)

    # --- revokeCert (§7.6) ------------------------------------------------------------------

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

    # --- helpers ----------------------------------------------------------------------------

    def _own_order(self, s: Session, account: AccountView, order_id: int) -> AcmeOrder:
        row = acme_store.order(s, order_id)
        if row is None or row.account_id != account.id:
            raise NotFound("acme.not_found", "no such order")
        return row

    def _own_authz(self, s: Session, account: AccountView, authz_id: int) -> AcmeAuthorization:
        row = acme_store.authorization(s, authz_id)
        if row is None or row.account_id != account.id:
            raise NotFound("acme.not_found", "no such authorization")
        return row

    def _own_challenge(
        self, s: Session, account: AccountView, challenge_id: int
    ) -> tuple[AcmeServerChallenge, AcmeAuthorization]:
        chall = acme_store.challenge(s, challenge_id)
        authz = None if chall is None else acme_store.authorization(s, chall.authz_id)
        if chall is None or authz is None or authz.account_id != account.id:
            raise NotFound("acme.not_found", "no such challenge")
        return chall, authz

    def _authz_view(self, s: Session, row: AcmeAuthorization, now: datetime) -> AuthzView:
        challs = acme_store.challenges_of(s, [row.id])
        return self._authz_of(row, challs, now)

    def _authz_of(
        self, row: AcmeAuthorization, challs: list[AcmeServerChallenge], now: datetime
    ) -> AuthzView:
        return AuthzView(
            row.id,
            row.order_id,
            row.name,
            row.wildcard,
            authz_status(row.status, [c.status for c in challs], row.expires_at, now),
            row.expires_at,
            tuple(_challenge(c) for c in challs),
        )

    def _order_view(self, s: Session, row: AcmeOrder, now: datetime) -> OrderView:
        authzs = acme_store.authorizations_of(s, row.id)
        challs = acme_store.challenges_of(s, [a.id for a in authzs])
        by_authz: dict[int, list[AcmeServerChallenge]] = {}
        for c in challs:
            by_authz.setdefault(c.authz_id, []).append(c)
        statuses = [self._authz_of(a, by_authz.get(a.id, []), now).status for a in authzs]
        serial = None
        if row.certificate_id is not None:
            cert = cert_store.by_id(s, row.certificate_id)
            serial = None if cert is None else cert.serial
        replaces = None
        if row.replaces_id is not None:
            old = cert_store.by_id(s, row.replaces_id)
            replaces = None if old is None or old.der is None else cert_id_of(old.der)
        return OrderView(
            row.id,
            order_status(row.status, statuses, row.expires_at, now),
            tuple(row.names),
            row.expires_at,
            tuple(a.id for a in authzs),
            row.error,
            serial,
            row.profile,
            replaces,
        )
