"""The validation authority (VA): proving control of a name (RFC 8555 §8), behind one
protocol, one implementation per challenge type (STYLE habit 16): http01.py (§8.3),
dns01.py (§8.4), tls_alpn01.py (RFC 8737) and dns_persist01.py (draft-ietf-acme-dns-persist),
assembled by va.py. This module holds what they share: the task, the failure, where a
validation may connect, and the pool that runs them.

Validations make network requests, so they never run inside a request's transaction: the
orders service hands each to a :class:`ValidationPool`, a bounded thread pool in the serving
process (``CERTDESK_ACME_VA_WORKERS``), which records the result in a transaction of its own.
A process that dies mid-validation leaves the challenge ``processing``; its authorization
expires with it. The pool's threads hold no database session while they wait on the network:
the request that started a validation has committed before the job is submitted, and the job
opens its own short transaction only to record the outcome.

Where a validation connects is decided here, once (:class:`Targets`): by default the name is
resolved and loopback, link-local, private and other special-purpose addresses are refused
(a VA must not be turned against the data center's own network); ``CERTDESK_ACME_VA_ADDRESS``
sends every validation to one address (tests and labs) and ``CERTDESK_ACME_VA_ALLOW_RANGES``
allows chosen ranges.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import dns.exception
import dns.resolver

from certdesk.config import Settings
from certdesk.core.acme_states import ChallengeType

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ValidationTask:
    challenge_id: int
    kind: ChallengeType
    name: str  # the authorization's name (a wildcard's base name)
    token: str
    key_authorization: str
    # What dns-persist-01 binds a record to: the account's URL and key, and whether the
    # authorization is for a wildcard (then the record must say policy=wildcard).
    account_url: str = ""
    thumbprint: str = ""
    wildcard: bool = False


class ValidationFailed(Exception):
    """Why a challenge failed, as an RFC 8555 §6.7 problem type (``connection``,
    ``incorrectResponse``, ``dns``, ``unauthorized``)."""

    def __init__(self, acme_type: str, detail: str) -> None:
        super().__init__(detail)
        self.acme_type = acme_type
        self.detail = detail

    def problem(self) -> dict[str, object]:
        return {
            "type": f"urn:ietf:params:acme:error:{self.acme_type}",
            "detail": self.detail,
            "status": 400 if self.acme_type != "unauthorized" else 403,
        }


class Validator(Protocol):
    """One challenge type's check; raises :class:`ValidationFailed` unless it holds.

    Returns the last instant the proof may be relied on when the proof itself says so (a
    dns-persist-01 record's persistUntil), else None."""

    def validate(self, task: ValidationTask) -> datetime | None: ...


def _resolver(dns_server: str) -> dns.resolver.Resolver:
    if not dns_server:
        return dns.resolver.Resolver()
    host, _, port = dns_server.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"CERTDESK_ACME_VA_DNS_SERVER must be host:port, not {dns_server!r}")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host.strip("[]")]
    resolver.port = int(port)
    resolver.timeout = resolver.lifetime = TIMEOUT_SECONDS / 2
    return resolver


class Targets:
    """Where a validation may connect (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self._forced = (
            ipaddress.ip_address(settings.acme_va_address) if settings.acme_va_address else None
        )
        self._allowed = tuple(
            ipaddress.ip_network(r, strict=False) for r in settings.acme_va_allow_ranges
        )
        self.resolver = _resolver(settings.acme_va_dns_server)

    def allowed(self, ip: IPAddress) -> bool:
        if self._forced is not None and ip == self._forced:
            return True
        if any(ip in net for net in self._allowed):
            return True
        return ip.is_global and not ip.is_multicast

    def address(self, host: str) -> IPAddress:
        """The address to connect to for ``host``."""
        if self._forced is not None:
            return self._forced
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            found = []
            for rdtype in ("A", "AAAA"):
                try:
                    answer = self.resolver.resolve(host, rdtype)
                except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                    continue
                except dns.exception.DNSException as exc:
                    raise ValidationFailed("dns", f"looking up {host} failed: {exc}") from None
                found += [ipaddress.ip_address(r.to_text()) for r in answer]
            if not found:
                raise ValidationFailed("dns", f"{host} has no A or AAAA record")
        for ip in found:
            if self.allowed(ip):
                return ip
        raise ValidationFailed(
            "connection", f"{host} resolves only to addresses validation may not connect to"
        )


class ValidationPool:
    """A bounded pool of threads that run validations outside any request."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, job: Callable[[], None]) -> Future[None]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="certdesk-va")
        return self._pool.submit(job)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
