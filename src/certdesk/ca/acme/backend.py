"""The vendor CA as an :class:`~certdesk.ca.issuer.Issuer` (RFC 8555 §7.4 order lifecycle).

One call drives an order as far as it gets within ``AcmeSettings.wait``:

1. journal the :class:`OrderingIntent` (account, CSR, names), then ``newOrder`` (with the
   mapped ACME profile and RFC 9773 ``replaces`` when the vendor offers them) and journal
   :class:`OrderPlaced` with the order URL at once;
2. for each pending authorization, let the name's solver present every answer, answer the
   challenges, poll until the authorizations are final, then clean up;
3. finalize with the CSR when the order is ``ready``; poll while ``processing``, respecting
   ``Retry-After`` (RFC 8555 §7.4);
4. download the chain and the alternates (§7.4.2), check them (:mod:`certdesk.ca.arrival`)
   and return them.

Out of time, or the vendor unreachable after the order exists: a :class:`Pending` with the
order URL, resumed later by :meth:`AcmeIssuer.resume` — the same order, never a new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import requests
from acme import challenges, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from josepy import b64
from josepy.json_util import field as json_field

from certdesk.ca.acme import ari
from certdesk.ca.acme.session import AcmeSession
from certdesk.ca.acme.solvers import ByZone, ChallengeTask, Solver
from certdesk.ca.arrival import check_arrival
from certdesk.ca.issuer import (
    IssuedChain,
    Issuer,
    IssueRequest,
    Journal,
    OrderingIntent,
    OrderPlaced,
    Pending,
    RenewalInfoSource,
    RenewalWindow,
    Revoker,
)
from certdesk.errors import CertdeskError, Conflict, InvalidInput, Unavailable

BACKEND = "acme"

# RFC 5280 §5.3.1 CRLReason codes, which RFC 8555 §7.6 carries in "reason".
REASON_CODES: Mapping[x509.ReasonFlags, int] = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}


class _NewOrder(messages.NewOrder):
    """RFC 8555 §7.4 newOrder plus RFC 9773 §5 ``replaces`` (``acme`` lacks the field)."""

    replaces: str | None = json_field("replaces", omitempty=True)


@dataclass(frozen=True)
class AcmeSettings:
    """Per-issuer choices; the trust anchors are what the vendor's chains must build to."""

    anchors: tuple[x509.Certificate, ...]
    profiles: Mapping[str, str] = field(default_factory=dict)  # certdesk type → ACME profile
    wait: timedelta = timedelta(seconds=60)  # how long one call drives an order
    poll_interval: timedelta = timedelta(seconds=1)  # when the vendor gives no Retry-After
    alternate_chains: bool = True
    # Pre-storage lint findings accepted from this vendor (certdesk.ca.vendor_lint.FINDINGS):
    # none for a public CA; a test CA's known shortcuts in a lab (R16).
    lint_tolerate: frozenset[str] = frozenset()


class _OutOfTime(Exception):
    pass


class AcmeIssuer:
    """Issuer, revoker and renewal-information source for one vendor account."""

    def __init__(
        self, session: AcmeSession, solvers: ByZone | Solver, settings: AcmeSettings
    ) -> None:
        if session.account_url is None:
            raise Conflict("acme.no_account", "the ACME issuer needs a registered account")
        self.session = session
        self.solvers = solvers if isinstance(solvers, ByZone) else ByZone(solvers)
        self.settings = settings

    @property
    def backend(self) -> str:
        return BACKEND

    @property
    def account_url(self) -> str:
        url = self.session.account_url
        assert url is not None
        return url

    # --- the seam ---------------------------------------------------------------------------

    def issue(self, request: IssueRequest, journal: Journal) -> IssuedChain | Pending:
        csr_der = request.csr.public_bytes(serialization.Encoding.DER)
        journal.record(OrderingIntent(self.account_url, csr_der, request.names))
        order = self._new_order(request)
        order_url = order.uri
        journal.record(OrderPlaced(self.account_url, order_url))
        return self._drive(request, order_url, order.body)

    def resume(
        self, request: IssueRequest, pending: Pending, journal: Journal
    ) -> IssuedChain | Pending:
        if pending.backend != BACKEND or pending.handle.get("account_url") != self.account_url:
            raise Conflict(
                "acme.not_this_account", "the pending order belongs to another issuer or account"
            )
        order_url = pending.handle["order_url"]
        try:
            body = self._fetch_order(order_url)
        except Unavailable as err:
            return self._pending(order_url, "unreachable", err)
        return self._drive(request, order_url, body)

    # --- optional abilities -----------------------------------------------------------------

    def revoke(self, certificate: x509.Certificate, reason: x509.ReasonFlags) -> None:
        """RFC 8555 §7.6, signed by the account that ordered the certificate."""
        code = REASON_CODES[reason]
        self.session.call(
            "revocation",
            lambda: self.session.post(
                self.session.directory["revokeCert"],
                messages.Revocation(certificate=certificate, reason=code),
            ),
        )

    def renewal_info(self, certificate: x509.Certificate) -> RenewalWindow | None:
        return ari.fetch(self.session, certificate)

    def profiles(self) -> Mapping[str, str]:
        """The vendor's ACME profiles (``meta.profiles``): name → description."""
        meta = self.session.directory.meta
        return dict(meta.profiles or {}) if meta is not None else {}

    # --- the order --------------------------------------------------------------------------

    def _profile(self, request: IssueRequest) -> str | None:
        name = self.settings.profiles.get(request.profile)
        if name is None:
            return None
        offered = self.profiles()
        if name not in offered:
            raise InvalidInput(
                "acme.profile_unknown",
                f"the vendor offers no ACME profile {name!r} (offered: "
                f"{', '.join(sorted(offered)) or 'none'})",
            )
        return name

    def _new_order(self, request: IssueRequest) -> messages.OrderResource:
        identifiers = [
            messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=n) for n in request.names
        ]
        replaces = None
        if request.replaces is not None and ari.supports_ari(self.session):
            replaces = ari.cert_id(request.replaces)
        body = _NewOrder(identifiers=identifiers, profile=self._profile(request), replaces=replaces)
        response = self.session.call(
            "placing the order",
            lambda: self.session.post(self.session.directory["newOrder"], body),
        )
        location = response.headers.get("Location")
        if not location:
            raise Conflict("acme.refused", "the vendor placed an order without a URL")
        return messages.OrderResource(body=messages.Order.from_json(response.json()), uri=location)

    def _fetch_order(self, order_url: str) -> messages.Order:
        response = self.session.post_as_get(order_url, "reading the order")
        order: messages.Order = messages.Order.from_json(response.json())
        return order

    def _pending(self, order_url: str, state: str, problem: CertdeskError | None = None) -> Pending:
        now = self.session.clock()
        retry = self.session.retry_after() or now + self.settings.poll_interval
        doc = problem.extra.get("problem") if problem is not None else None
        return Pending(
            backend=BACKEND,
            handle={"account_url": self.account_url, "order_url": order_url},
            state=state,
            retry_after=retry,
            problem=doc if isinstance(doc, Mapping) else None,
        )

    def _drive(
        self, request: IssueRequest, order_url: str, body: messages.Order
    ) -> IssuedChain | Pending:
        deadline = self.session.clock() + self.settings.wait
        try:
            while True:
                status = body.status
                if status == messages.STATUS_INVALID:
                    detail = body.error.detail if body.error is not None else "no reason given"
                    raise Conflict(
                        "acme.order_invalid",
                        f"the vendor abandoned the order: {detail}",
                        problem=body.error.to_partial_json() if body.error else None,
                    )
                if status == messages.STATUS_VALID and body.certificate:
                    return self._download(request, body.certificate)
                if status == messages.STATUS_PENDING:
                    self._authorize(body.authorizations, deadline)
                elif status == messages.STATUS_READY:
                    self._finalize(request, body)
                else:  # processing (or valid without a URL yet): wait as the vendor asks
                    self._wait(deadline)
                body = self._fetch_order(order_url)
        except _OutOfTime:
            return self._pending(order_url, _state(body))
        except Unavailable as err:
            return self._pending(order_url, _state(body), err)

    def _wait(self, deadline: datetime) -> None:
        now = self.session.clock()
        until = self.session.retry_after() or now + self.settings.poll_interval
        if until > deadline:
            raise _OutOfTime
        self.session.sleep(max((until - now).total_seconds(), 0.0))

    def _finalize(self, request: IssueRequest, body: messages.Order) -> None:
        csr = messages.CertificateRequest(csr=request.csr)
        try:
            self.session.call("finalizing the order", lambda: self.session.post(body.finalize, csr))
        except Conflict as err:
            problem = err.extra.get("problem")
            if isinstance(problem, Mapping) and str(problem.get("type", "")).endswith(
                ":orderNotReady"
            ):
                return  # RFC 8555 §7.4: read the order again and act on its state
            raise

    # --- authorizations ---------------------------------------------------------------------

    def _authorize(self, urls: Sequence[str], deadline: datetime) -> None:
        work: list[tuple[str, Solver, ChallengeTask, messages.ChallengeBody]] = []
        for url in urls:
            authz = self._fetch_authz(url)
            if authz.status == messages.STATUS_VALID:
                continue
            if authz.status != messages.STATUS_PENDING:
                raise self._authz_failed(authz)
            name = str(authz.identifier.value)
            solver = self.solvers.for_name(name)
            challb = self._challenge_for(authz, solver)
            if challb is None:
                solver.present(
                    [ChallengeTask(name, bool(authz.wildcard), "", "", "")]
                )  # a pre-validated solver refuses with a clear reason
                continue
            chall = challb.chall
            assert isinstance(chall, challenges.KeyAuthorizationChallenge)
            task = ChallengeTask(
                identifier=name,
                wildcard=bool(authz.wildcard),
                challenge_type=str(chall.typ),
                token=b64.b64encode(chall.token).decode("ascii"),
                key_authorization=chall.key_authorization(self.session.key),
            )
            work.append((url, solver, task, challb))
        if not work:
            return
        by_solver: dict[int, tuple[Solver, list[ChallengeTask]]] = {}
        for _, solver, task, _ in work:
            by_solver.setdefault(id(solver), (solver, []))[1].append(task)
        finished = False
        try:
            for solver, tasks in by_solver.values():
                solver.present(tasks)
            for _, _, _, challb in work:
                if challb.status == messages.STATUS_PENDING:
                    self._answer(challb)
            for url, _, _, _ in work:
                while True:
                    authz = self._fetch_authz(url)
                    if authz.status == messages.STATUS_VALID:
                        break
                    if authz.status != messages.STATUS_PENDING:
                        finished = True
                        raise self._authz_failed(authz)
                    self._wait(deadline)
            finished = True
        finally:
            # Answers stay up while a validation may still be running at the vendor: a
            # resumed call presents them again and cleans up once the authorizations are final.
            if finished:
                for solver, tasks in by_solver.values():
                    solver.cleanup(tasks)

    def _answer(self, challb: messages.ChallengeBody) -> None:
        """RFC 8555 §7.5.1: tell the vendor the answer is in place."""
        answer = challb.chall.response(self.session.key)
        self.session.call("answering a challenge", lambda: self.session.post(challb.uri, answer))

    def _fetch_authz(self, url: str) -> messages.Authorization:
        response = self.session.post_as_get(url, "reading an authorization")
        authz: messages.Authorization = messages.Authorization.from_json(response.json())
        return authz

    @staticmethod
    def _challenge_for(
        authz: messages.Authorization, solver: Solver
    ) -> messages.ChallengeBody | None:
        if solver.challenge_type is None:
            return None
        for challb in authz.challenges:
            if challb.chall.typ == solver.challenge_type:
                return challb
        raise Conflict(
            "acme.challenge_unoffered",
            f"the vendor offers no {solver.challenge_type} challenge for {authz.identifier.value}",
        )

    @staticmethod
    def _authz_failed(authz: messages.Authorization) -> Conflict:
        errors = [c.error for c in authz.challenges if c.error is not None]
        detail = errors[0].detail if errors and errors[0].detail else str(authz.status)
        return Conflict(
            "acme.authz_failed",
            f"the vendor did not validate {authz.identifier.value}: {detail}",
            problem=errors[0].to_partial_json() if errors else None,
        )

    # --- the certificate --------------------------------------------------------------------

    def _download(self, request: IssueRequest, url: str) -> IssuedChain:
        response = self.session.post_as_get(url, "downloading the certificate")
        leaf, chain = _split_chain(response.text)
        alternates: list[tuple[x509.Certificate, ...]] = []
        if self.settings.alternate_chains:
            for alt_url in _alternate_links(response):
                alt = self.session.post_as_get(alt_url, "downloading an alternate chain")
                alt_leaf, alt_chain = _split_chain(alt.text)
                if alt_leaf == leaf:
                    alternates.append(alt_chain)
        issued = IssuedChain(leaf=leaf, chain=chain, alternates=tuple(alternates))
        return check_arrival(
            issued,
            request,
            anchors=self.settings.anchors,
            now=self.session.clock(),
            tolerate=self.settings.lint_tolerate,
        )


def _split_chain(pem: str) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """RFC 8555 §9.1 PEM chain: the leaf first; a self-signed root, if sent, is dropped."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except ValueError as err:
        raise Conflict(
            "vendor.chain", f"the vendor's certificate chain is unreadable: {err}"
        ) from err
    leaf, *rest = certs
    return leaf, tuple(c for c in rest if c.issuer != c.subject)


def _alternate_links(response: requests.Response) -> list[str]:
    header = response.headers.get("Link")
    if not header:
        return []
    return [
        link["url"]
        for link in requests.utils.parse_header_links(header)
        if link.get("rel") == "alternate" and "url" in link
    ]


def _state(body: messages.Order) -> str:
    """The order's RFC 8555 §7.1.6 status word (``pending``, ``ready``, ``processing`` …)."""
    status = body.status
    return str(status.name) if status is not None else "unknown"


if TYPE_CHECKING:  # the seam is typed: mypy checks AcmeIssuer against the protocols
    _issuer: type[Issuer] = AcmeIssuer
    _revoker: type[Revoker] = AcmeIssuer
    _ari: type[RenewalInfoSource] = AcmeIssuer
