"""Orders and their finalization over ACME (RFC 8555 §7.4, R17): the registration authority
of the ACME server. Authorizations and challenges live in services/acme/authorizations.py,
revocation in services/acme/revocations.py; this service is the WFE's one door to all three.

1. newOrder judges every identifier under R1 and the account's organization's grants (R2)
   before anything is stored; a refusal names each rejected identifier and its rule.
2. The order must fit the rate limits and may reuse the account's recent validations
   (services/acme/limits.py); ``replaces`` must name a certificate of the organization not
   replaced yet (RFC 9773 §5, services/acme/renewal_info.py); ``profile`` must be one the
   directory offers. Each name gets an authorization: valid at once when reused, else with
   http-01 and dns-01 challenges (dns-01 only for a wildcard, §7.1.3).
3. A challenge the client answers is validated by the VA (services/acme/validation.py) in
   the validation pool, outside every request transaction (services/acme/authorizations.py).
4. finalize re-checks the CSR (R12 key and signature, R1 names, the name limit) and that it
   names exactly the order's identifiers; then the order is ``processing`` — a conditional
   update, so two finalizations never both sign — and the certificate is issued through the
   one issuance pipeline (services/pki/issuance.py) as the account's principal, so R2, R11,
   R13, R7 and the audit (R15) apply as for any issuance and the certificate lands in the
   inventory under the organization.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from certdesk.core.acme_profiles import profile_days
from certdesk.core.acme_states import (
    AuthzStatus,
    ChallengeStatus,
    ChallengeType,
    OrderStatus,
    authz_status,
    b64url,
    identifier_base,
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
from certdesk.services.acme.authorizations import (
    AcmeAuthorizations,
    AuthzView,
    ChallengeView,
    Started,
)
from certdesk.services.acme.download import Downloads
from certdesk.services.acme.limits import check_limits, reusable
from certdesk.services.acme.persist import PersistRecords
from certdesk.services.acme.renewal_info import cert_id_of, replacement_target
from certdesk.services.acme.revocations import AcmeRevocations
from certdesk.services.acme.validation import (
    ValidationPool,
    Validator,
)
from certdesk.services.audit import AuditService
from certdesk.services.pki.inventory import InventoryService
from certdesk.services.pki.issuance import IssuanceService, IssueCommand
from certdesk.services.pki.revocation import RevocationService
from certdesk.services.runtime import Runtime
from certdesk.store import acme_compiled, acme_limits, acme_reads
from certdesk.store import acme_server as acme_store
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store

# How long an authorization may wait to be proved (RFC 8555 §7.1.4 "expires").
AUTHZ_LIFETIME = timedelta(days=7)


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


def order_view_of(rows: Sequence[Any], now: datetime) -> OrderView:
    """The order of ``store.acme_reads.order``'s rows, its status derived at ``now``."""
    first = rows[0]
    authzs: dict[int, tuple[AuthzStatus, datetime, list[ChallengeStatus]]] = {}
    for r in rows:
        if r.authz_id is None:
            continue
        entry = authzs.setdefault(r.authz_id, (r.authz_status, r.authz_expires_at, []))
        if r.challenge_status is not None:
            entry[2].append(r.challenge_status)
    statuses = [authz_status(st, challs, exp, now) for st, exp, challs in authzs.values()]
    replaces = None if first.replaces_der is None else cert_id_of(first.replaces_der)
    return OrderView(
        first.id,
        order_status(first.status, statuses, first.expires_at, now),
        tuple(first.names),
        first.expires_at,
        tuple(authzs),
        first.error,
        first.certificate_serial,
        first.profile,
        replaces,
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
        persist: PersistRecords,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._issuance = issuance
        self._inventory = inventory
        self._downloads = Downloads(rt)
        # Authorizations, challenges (with the VA) and revocation are rooms of their own;
        # the order service answers for them so the WFE has one door to the pipeline.
        self.authorizations = AcmeAuthorizations(rt, audit, validators, pool)
        self.revocations = AcmeRevocations(rt, revocation)
        self.persist = persist

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
        persisted = self._standing_records(account, names)
        # Not forced to disk by itself: nothing outside the database acts on a new order, and
        # one lost to a power cut is answered "not found"; the client orders again. Finalize's
        # forced commits make it durable before any certificate depends on it (WAL order).
        with self._rt.unforced.begin() as s:
            # The organization's row, locked for the rate limits' counts below (PostgreSQL).
            org = acme_limits.lock_org(s, account.org_id)
            if org is None or not org.self_managed:
                raise Forbidden(
                    "acme.unauthorized",
                    "the account's organization is managed: its certificates come through cases",
                )
            grants = [
                Grant(GrantKind(k), n)
                for k, n in org_store.grants_of(s.connection(), account.org_id)
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
            persisted = {n: u for n, u in persisted.items() if n in normalized and n not in reuse}
            check_limits(s, settings, account, len(normalized) - len(reuse) - len(persisted), now)
            conn = s.connection()
            expires_at = now + timedelta(hours=settings.acme_order_hours)
            order_id = acme_store.add_order(
                conn,
                account_id=account.id,
                org_id=account.org_id,
                names=normalized,
                expires_at=expires_at,
                created_at=now,
                replaces_id=replaces_id,
                profile=profile,
            )
            for name in normalized:
                base, wildcard = identifier_base(name)
                validated = reuse.get(name)
                if name in persisted:
                    # Proved just now by a standing dns-persist-01 record (draft §4.4),
                    # never past its persistUntil.
                    until = persisted[name]
                    validated = (
                        min(now + AUTHZ_LIFETIME, expires_at, until or expires_at),
                        ChallengeType.DNSPERSIST01,
                        now,
                    )
                    PersistRecords.learn(s, account, base, wildcard, until, now)
                authz_id = acme_store.add_authorization(
                    conn,
                    order_id=order_id,
                    account_id=account.id,
                    name=base,
                    wildcard=wildcard,
                    expires_at=min(now + AUTHZ_LIFETIME, expires_at)
                    if validated is None
                    else validated[0],
                    created_at=now,
                    valid=validated is not None,
                )
                if validated is not None:
                    # Reused (§7.1.4, SC-081): valid at once, through its earlier proof.
                    acme_store.add_reused_challenge(
                        conn,
                        authz_id,
                        kind=validated[1],
                        token=b64url(secrets.token_bytes(32)),
                        validated_at=validated[2],
                    )
                    continue
                kinds = offered_challenges(wildcard)
                acme_store.add_challenges(
                    conn, authz_id, kinds, [b64url(secrets.token_bytes(32)) for _ in kinds]
                )
            self._audit.record(
                s,
                account.actor(),
                "acme.order.create",
                "acme_order",
                order_id,
                organization=org.code,
                names=normalized,
                replaces=replaces,
                profile=profile,
                reused=sorted(reuse),
                persisted=sorted(persisted),
            )
            s.flush()
            return order_view_of(acme_reads.order(conn, order_id), now)

    def _standing_records(
        self, account: AccountView, names: list[str]
    ) -> dict[str, datetime | None]:
        """Names a remembered dns-persist-01 record of the account proves now (looked up
        before newOrder's transaction); none when the names are refused anyway."""
        try:
            normalized = require_allowed(
                names,
                self._rt.settings.allowed_suffixes,
                max_names=self._rt.settings.max_names_per_cert,
            )
        except CertdeskError:
            return {}
        return self.persist.proved(account, normalized)

    # --- reading ----------------------------------------------------------------------------

    def order(self, account: AccountView, order_id: int) -> OrderView:
        """The order as the client sees it (one statement, no ORM objects: a hot poll)."""
        return self._read_order(account, order_id)[0]

    def _read_order(self, account: AccountView, order_id: int) -> tuple[OrderView, str | None]:
        """The order's view and the serial of the certificate it replaces, if any."""
        with self._rt.reading() as conn:
            rows = acme_reads.order(conn, order_id)
        if not rows or rows[0].account_id != account.id:
            raise NotFound("acme.not_found", "no such order")
        return order_view_of(rows, self._rt.clock()), rows[0].replaces_serial

    def orders(self, account: AccountView, *, after: int = 0, limit: int) -> list[int]:
        """A page of the account's orders (RFC 8555 §7.1.2.1): up to ``limit`` numbered
        above ``after``, invalid ones left out."""
        with self._rt.reads() as s:
            return acme_store.orders_of(
                s, account.id, after=after, limit=limit, now=self._rt.clock()
            )

    # --- authorizations, challenges (§7.5) and revokeCert (§7.6), in their own rooms --------

    def authorization(self, account: AccountView, authz_id: int) -> AuthzView:
        return self.authorizations.authorization(account, authz_id)

    def challenge(self, account: AccountView, challenge_id: int) -> ChallengeView:
        return self.authorizations.challenge(account, challenge_id)

    def respond(self, account: AccountView, challenge_id: int) -> Started:
        return self.authorizations.respond(account, challenge_id)

    def deactivate_authorization(self, account: AccountView, authz_id: int) -> AuthzView:
        return self.authorizations.deactivate_authorization(account, authz_id)

    def revoke(
        self,
        account: AccountView | None,
        cert_der: bytes,
        reason_code: int | None,
        jwk_spki: bytes | None,
    ) -> None:
        self.revocations.revoke(account, cert_der, reason_code, jwk_spki)

    # --- finalize (§7.4) --------------------------------------------------------------------

    def finalize(self, account: AccountView, order_id: int, csr_der: bytes) -> OrderView:
        settings = self._rt.settings
        view, replaced_serial = self._read_order(account, order_id)
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
        # The conditional update keeps two finalizations from both signing whether or not it
        # is on disk; the issuance's forced commit follows and makes it durable with it.
        with self._rt.transaction(flush=False) as conn:
            if not acme_compiled.order_processing(conn, order_id):
                raise Conflict("acme.order_not_ready", "the order is already being finalized")
        linked: list[int] = []

        def valid(conn: Connection, certificate_id: int) -> None:
            # In the certificate's own transaction (its activation, forced to disk): the
            # order is valid with its certificate's link exactly when the certificate is
            # stored, so a crash never leaves a certificate without its order's link.
            acme_compiled.order_valid(conn, order_id, certificate_id)
            linked.append(certificate_id)

        try:
            issued = self._issuance.issue(
                account.actor(),
                IssueCommand(
                    org_code=account.org_code,
                    csr=csr_der,
                    # The profile's validity (draft-aaron-acme-profiles), under R13 and R7.
                    days=profile_days(view.profile, settings.acme_shortlived_days),
                    # RFC 9773 §5: the inventory records the new certificate as the renewal.
                    renewal_of=replaced_serial,
                    on_stored=valid,
                ),
            )
        except CertdeskError as exc:
            with self._rt.transaction() as conn:
                acme_store.mark_order(
                    conn,
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
        if not linked:  # a vendor's certificate: stored without the hook, linked here
            with self._rt.transaction() as conn:
                owner = cert_store.owner_of(conn, issued.serial)
                assert owner is not None  # issue() returns only once the row is active
                acme_store.mark_order(
                    conn,
                    order_id,
                    OrderStatus.VALID,
                    expect=[OrderStatus.PROCESSING],
                    certificate_id=owner[0],
                )
        return replace(view, status=OrderStatus.VALID, certificate_serial=issued.serial)

    def certificate(self, account: AccountView, serial: str) -> bytes:
        """The PEM chain (§7.4.2): the leaf, then the issuing CA(s)."""
        return self._downloads.chain(account.id, account.org_id, serial)
