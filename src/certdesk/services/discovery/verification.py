"""Verifying an installed endpoint (R14): connect, observe, ask the inventory, judge, record.

Where a connection may go is the operator's decision: loopback, private and reserved
addresses are refused unless ``CERTDESK_VERIFY_ALLOW_NETWORKS`` names their range (certdesk
runs inside the data center, so allowing its networks is the usual set-up). Every address a
name resolves to is checked, and the first allowed one is used.

Trusted roots: the system's bundle, certdesk's own roots, the vendor CAs' anchors and the
operator's ``CERTDESK_VERIFY_CA_FILE``.
"""

from __future__ import annotations

import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.endpoints import (
    DEFAULT_PORT,
    STARTTLS_PORTS,
    InventoryMatch,
    Observation,
    Starttls,
    Target,
    Verdict,
    check_address,
    judge,
    parse_target,
)
from certdesk.errors import InvalidInput, PolicyRefusal, Unavailable
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_cert
from certdesk.store import endpoints as store
from certdesk.store import issuers as issuer_store
from certdesk.store.endpoints import Known
from certdesk.store.models import EndpointCheck
from certdesk.verify import probe


@dataclass(frozen=True)
class Report:
    """One endpoint's verification (``certdesk verify --json``, the API)."""

    target: Target
    sni: str | None
    observation: Observation
    verdict: Verdict
    known: Known | None
    check_id: int | None

    def as_dict(self) -> dict[str, Any]:
        o = self.observation
        return {
            "target": str(self.target),
            "sni": self.sni,
            "severity": self.verdict.severity.label,
            "findings": [f.as_dict() for f in self.verdict.findings],
            "certificate": {
                "sha256": o.leaf_sha256,
                "names": list(o.leaf_names),
                "not_after": o.not_after.isoformat().replace("+00:00", "Z"),
                "days_left": self.verdict.days_left,
                "chain_length": o.chain_length,
                "chain_trusted": o.chain_error is None,
            },
            "inventory": None
            if self.known is None
            else {
                "kind": self.known.kind,
                "serial": self.known.serial,
                "status": self.known.status,
            },
            "protocols": sorted(str(p) for p in o.offered),
            "negotiated": o.negotiated,
            "forward_secrecy_tls12": o.forward_secret_tls12,
            "ocsp_stapled": o.ocsp_stapled,
            "http": o.http,
            "hsts": o.hsts,
        }


class Reach:
    """Where probes may go and what they trust, from the settings and the inventory."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self.allowed = tuple(
            ipaddress.ip_network(n, strict=False) for n in rt.settings.verify_allow_networks
        )
        self._roots: list[x509.Certificate] | None = None

    def address(self, target: Target) -> str:
        """The first allowed address of ``target`` (refused when none is)."""
        forced = self._rt.settings.verify_address
        addresses = [forced] if forced else probe.resolve(target.host, target.port)
        refusal: PolicyRefusal | None = None
        for text in addresses:
            try:
                check_address(ipaddress.ip_address(text.split("%")[0]), self.allowed)
            except PolicyRefusal as exc:
                refusal = refusal or exc
                continue
            return text
        assert refusal is not None
        raise refusal

    def where(self, target: Target, sni: str | None, starttls: Starttls | None) -> probe.Where:
        return probe.Where(
            self.address(target),
            target,
            sni,
            starttls,
            self._rt.settings.verify_timeout_seconds,
        )

    def roots(self) -> list[x509.Certificate]:
        if self._roots is None:
            found: list[x509.Certificate] = []
            bundle = ssl.get_default_verify_paths().cafile
            for path in (bundle, self._rt.settings.verify_ca_file):
                if path and Path(path).is_file():
                    try:
                        # The system bundle holds a few old roots with a negative serial,
                        # which cryptography warns about: they are roots all the same.
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                            found += x509.load_pem_x509_certificates(Path(path).read_bytes())
                    except ValueError:
                        raise Unavailable(
                            "verify.bad_ca_file", f"{path} holds a damaged PEM certificate"
                        ) from None
            with self._rt.reads() as s:
                found += [
                    x509.load_der_x509_certificate(ca.cert_der)
                    for ca in issuer_store.all_issuers(s)
                    if ca.is_root
                ]
                for pem in store.vendor_anchors(s):
                    found += x509.load_pem_x509_certificates(pem.encode())
            self._roots = found
        return self._roots


def parse_endpoint(text: str, starttls: str | None) -> tuple[Target, Starttls | None]:
    how: Starttls | None = None
    if starttls:
        try:
            how = Starttls(starttls)
        except ValueError:
            raise InvalidInput(
                "endpoint.bad_starttls", f"--starttls is smtp, imap or pop3, not {starttls!r}"
            ) from None
    port = STARTTLS_PORTS[how] if how is not None else DEFAULT_PORT
    return parse_target(text, port), how


class Verification:
    """``certdesk verify``, the API's verify and the worker's re-checks."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self.reach = Reach(rt)

    def checks(self, actor: Actor, serial: str, limit: int = 20) -> list[CheckView]:
        """The latest checks of certificate ``serial`` (its timeline), newest first."""
        with self._rt.reads() as s:
            cert = visible_cert(s, actor, serial)
            authorize(actor, Action.CERT_READ, cert.org_id, hide=True)
            return check_views(store.checks_of(s, certificate_id=cert.id, limit=limit))

    def verify(
        self,
        actor: Actor,
        endpoint: str,
        *,
        sni: str | None = None,
        starttls: str | None = None,
        record: bool = True,
    ) -> Report:
        authorize(actor, Action.ENDPOINT_VERIFY, None)
        target, how = parse_endpoint(endpoint, starttls)
        if sni is not None:
            sni = parse_target(sni, 1).host
        elif not _is_address(target.host):
            sni = target.host
        return self.check(target, sni, how, record=record)

    def check(
        self,
        target: Target,
        sni: str | None,
        how: Starttls | None,
        *,
        record: bool = True,
        subject_cert_id: int | None = None,
    ) -> Report:
        """Observe ``target`` and judge it; record the check on ``subject_cert_id``, else on
        the served certificate when the inventory has it."""
        where = self.reach.where(target, sni, how)
        now = self._rt.clock()
        obs, _chain = probe.observe(where, self.reach.roots(), now)
        with self._rt.reads() as s:
            known = store.known(s, obs.leaf_sha256)
        match = InventoryMatch(
            known=known is not None,
            serial=known.serial if known else None,
            external=bool(known and known.kind == "external"),
            renewed_by=known.renewed_by if known else None,
        )
        verdict = judge(obs, match, now)
        check_id = None
        if record:
            check_id = self.record(target, sni, now, obs, verdict, known, subject_cert_id)
        return Report(target, sni, obs, verdict, known, check_id)

    def record(
        self,
        target: Target,
        sni: str | None,
        now: datetime,
        obs: Observation | None,
        verdict: Verdict | None,
        known: Known | None,
        subject_cert_id: int | None,
        error: str | None = None,
    ) -> int:
        # The worker's check belongs to the certificate whose name it checked; a one-off
        # verification to the certificate the endpoint served (when the inventory has it).
        cert_id = subject_cert_id
        if cert_id is None and known is not None and known.kind == "certificate":
            cert_id = known.id
        with self._rt.sessions.begin() as s:
            return store.add_check(
                s,
                {
                    "host": target.host,
                    "port": target.port,
                    "sni": sni,
                    "checked_at": now,
                    "certificate_id": cert_id,
                    "external_id": known.id if known and known.kind == "external" else None,
                    "served_sha256": obs.leaf_sha256 if obs else None,
                    "severity": verdict.severity.label if verdict else "unreachable",
                    "findings": [f.as_dict() for f in verdict.findings] if verdict else [],
                    "error": error,
                },
            )


@dataclass(frozen=True)
class CheckView:
    """One recorded check, for a certificate's timeline."""

    at: datetime
    endpoint: str
    severity: str
    findings: tuple[str, ...]  # plain-language messages
    error: str | None


def check_views(rows: list[EndpointCheck]) -> list[CheckView]:
    return [
        CheckView(
            r.checked_at,
            f"{r.host}:{r.port}",
            r.severity,
            tuple(f["message"] for f in r.findings if f.get("severity") != "note"),
            r.error,
        )
        for r in rows
    ]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
