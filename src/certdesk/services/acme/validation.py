"""The validation authority (VA): proving control of a name (RFC 8555 §8), behind one
protocol, one implementation per challenge type (STYLE habit 16).

Validations make network requests, so they never run inside a request's transaction: the
orders service hands each to a :class:`ValidationPool`, a bounded thread pool in the serving
process (``CERTDESK_ACME_VA_WORKERS``), which records the result in a transaction of its own.
A process that dies mid-validation leaves the challenge ``processing``; its authorization
expires with it (a worker-driven VA comes later with issue 13's remaining parts).

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
from typing import Protocol
from urllib.parse import urlsplit

import dns.exception
import dns.resolver
import httpx

from certdesk.config import Settings
from certdesk.core.acme_states import ChallengeType, dns01_txt

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 8555 §8.3 leaves the limits to the server; these follow Boulder's spirit.
MAX_REDIRECTS = 10
MAX_BODY_BYTES = 8192  # a key authorization is ~90 bytes; anything long is not one
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ValidationTask:
    challenge_id: int
    kind: ChallengeType
    name: str  # the authorization's name (a wildcard's base name)
    token: str
    key_authorization: str


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
    """One challenge type's check; raises :class:`ValidationFailed` unless it holds."""

    def validate(self, task: ValidationTask) -> None: ...


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


class Http01:
    """RFC 8555 §8.3: GET http://NAME/.well-known/acme-challenge/TOKEN answers the key
    authorization; at most :data:`MAX_REDIRECTS` redirects, to http or https only, and at
    most :data:`MAX_BODY_BYTES` read."""

    def __init__(self, targets: Targets, port: int) -> None:
        self._targets = targets
        self._port = port

    def validate(self, task: ValidationTask) -> None:
        url = f"http://{task.name}/.well-known/acme-challenge/{task.token}"
        for _ in range(MAX_REDIRECTS + 1):
            status, location, body = self._get(url)
            if status in (301, 302, 303, 307, 308) and location:
                url = str(httpx.URL(url).join(location))
                continue
            if status != 200:
                raise ValidationFailed("unauthorized", f"{url} answered HTTP {status}")
            if body.strip() != task.key_authorization.encode():
                raise ValidationFailed(
                    "incorrectResponse", f"{url} did not answer the key authorization"
                )
            return
        raise ValidationFailed("connection", f"more than {MAX_REDIRECTS} redirects")

    def _get(self, url: str) -> tuple[int, str | None, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationFailed("connection", f"redirect to {url!r} is not http or https")
        host = parts.hostname
        ip = self._targets.address(host)
        # The first request goes to the configured port; a redirect's port is its own
        # (80/443 by default), except that a lab's forced address keeps the configured port.
        default = self._port if parts.scheme == "http" else 443
        port = parts.port or default
        shown = f"[{ip}]" if ip.version == 6 else str(ip)
        target = f"{parts.scheme}://{shown}:{port}{parts.path or '/'}"
        if parts.query:
            target += "?" + parts.query
        try:
            # No certificate check on https (RFC 8555 §8.3: the VA follows redirects to https
            # without validating the server's certificate); SNI carries the name.
            with httpx.Client(verify=False, timeout=TIMEOUT_SECONDS, trust_env=False) as client:
                with client.stream(
                    "GET",
                    target,
                    headers={"Host": host, "User-Agent": "certdesk-va"},
                    extensions={"sni_hostname": host},
                ) as resp:
                    body = b""
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            raise ValidationFailed(
                                "unauthorized",
                                f"{url}: the response is over {MAX_BODY_BYTES} bytes",
                            )
                    return resp.status_code, resp.headers.get("location"), body
        except httpx.HTTPError as exc:
            raise ValidationFailed(
                "connection", f"fetching {url} failed: {type(exc).__name__}"
            ) from None


class Dns01:
    """RFC 8555 §8.4: a TXT record at ``_acme-challenge.NAME`` holds base64url(SHA-256(key
    authorization)); the resolver follows CNAMEs."""

    def __init__(self, targets: Targets) -> None:
        self._resolver = targets.resolver

    def validate(self, task: ValidationTask) -> None:
        name = f"_acme-challenge.{task.name}"
        expected = dns01_txt(task.key_authorization)
        try:
            answer = self._resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise ValidationFailed("dns", f"no TXT record at {name}") from None
        except dns.exception.DNSException as exc:
            raise ValidationFailed("dns", f"looking up TXT {name} failed: {exc}") from None
        values = {b"".join(r.strings).decode("ascii", "replace") for r in answer}
        if expected not in values:
            raise ValidationFailed("incorrectResponse", f"no TXT record at {name} matches")


def validators(settings: Settings) -> dict[ChallengeType, Validator]:
    """The VA of this process: one validator per challenge type offered."""
    targets = Targets(settings)
    return {
        ChallengeType.HTTP01: Http01(targets, settings.acme_va_http_port),
        ChallengeType.DNS01: Dns01(targets),
    }


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
