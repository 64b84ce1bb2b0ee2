"""What an installed endpoint's answer means (R14): findings and their severity.

Pure: the probe (``certdesk.verify``) observes, the services look up the inventory, and this
module judges. A finding has a stable ``code`` (for scripts and tests), a severity and a
plain-language message. The severity of the worst finding is the verdict of the endpoint,
and the CLI's exit code follows it (:func:`exit_code`).

Codes:

- ``chain.untrusted`` (critical): the served chain does not build to a trusted root — a
  missing intermediate (R14: an incomplete chain is a finding), a self-signed or unknown CA;
- ``name.mismatch`` (critical): the certificate does not cover the name asked for;
- ``cert.expired`` (critical), ``cert.expiring`` (warning, fewer than
  :data:`EXPIRING_DAYS` days left);
- ``inventory.unknown`` (warning): the served certificate is not in the inventory;
- ``inventory.stale`` (warning): the certificate was renewed but the old one is still served;
- ``protocol.ssl`` (critical), ``protocol.tls1_0`` / ``protocol.tls1_1`` (warning, R14:
  versions the vendors no longer support), ``protocol.no_forward_secrecy`` (warning: TLS 1.2
  offered without an ECDHE/DHE suite), ``protocol.tls1_3`` (note: offered),
  ``protocol.no_tls1_3`` (note);
- ``ocsp.not_stapled`` (note);
- ``hsts.missing`` (warning, only when the port answers HTTP), ``hsts.short`` (note: a
  max-age under a year).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from certdesk.errors import InvalidInput, PolicyRefusal

EXPIRING_DAYS = 30
HSTS_MIN_SECONDS = 31_536_000  # one year: what the preload list asks for
DEFAULT_PORT = 443
STARTTLS_PORTS = {"smtp": 25, "imap": 143, "pop3": 110}
# A discovery run expands at most this many addresses (a /20 at one port).
MAX_DISCOVERY_TARGETS = 4096
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}$")


class Severity(IntEnum):
    """Ordered: the worst finding decides."""

    OK = 0
    NOTE = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Protocol(StrEnum):
    """Protocol versions a probe tries, oldest first."""

    SSL3 = "SSLv3"
    TLS1_0 = "TLSv1.0"
    TLS1_1 = "TLSv1.1"
    TLS1_2 = "TLSv1.2"
    TLS1_3 = "TLSv1.3"


class Starttls(StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity.label, "message": self.message}


@dataclass(frozen=True)
class Observation:
    """What a probe saw at one endpoint (no judgement)."""

    host: str
    port: int
    sni: str | None
    leaf_sha256: str
    leaf_names: tuple[str, ...]
    leaf_ips: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    chain_length: int  # certificates served, leaf included
    chain_error: str | None  # None: the chain builds to a trusted root
    negotiated: str
    offered: frozenset[Protocol]
    tested: frozenset[Protocol]  # versions this machine's TLS library could try
    forward_secret_tls12: bool | None  # None: TLS 1.2 not offered
    ocsp_stapled: bool
    http: bool  # the port answered an HTTP request
    hsts: str | None  # the Strict-Transport-Security header, when HTTP answered


@dataclass(frozen=True)
class InventoryMatch:
    """What the inventory knows of the served leaf (looked up by its SHA-256)."""

    known: bool
    serial: str | None = None
    external: bool = False
    # The certificate was renewed (its successor delivered) but this one is still served.
    renewed_by: str | None = None


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    days_left: int
    severity: Severity = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", worst(self.findings))


def worst(findings: Iterable[Finding]) -> Severity:
    return max((f.severity for f in findings), default=Severity.OK)


def exit_code(severity: Severity) -> int:
    """``certdesk verify``'s exit code: 0 nothing above a note, 5 a warning, 6 critical."""
    return {Severity.OK: 0, Severity.NOTE: 0, Severity.WARNING: 5, Severity.CRITICAL: 6}[severity]


def name_matches(host: str, names: Sequence[str], ips: Sequence[str] = ()) -> bool:
    """RFC 6125 §6.4: ``host`` is one of ``names``, or matches a left-most ``*`` label."""
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(i) == ip for i in ips)
    for name in (n.lower() for n in names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            head, _, rest = host.partition(".")
            if rest == name[2:] and head:
                return True
    return False


def _hsts_max_age(header: str) -> int | None:
    m = re.search(r"max-age\s*=\s*\"?([0-9]+)", header, re.IGNORECASE)
    return int(m.group(1)) if m else None


def judge(obs: Observation, match: InventoryMatch, now: datetime) -> Verdict:
    """The findings for what ``obs`` saw, the inventory's ``match``, at ``now``."""
    out: list[Finding] = []
    crit, warn, note = Severity.CRITICAL, Severity.WARNING, Severity.NOTE
    if obs.chain_error is not None:
        out.append(
            Finding(
                "chain.untrusted",
                crit,
                f"the chain does not lead to a trusted root: {obs.chain_error}",
            )
        )
    name = obs.sni or obs.host
    if not name_matches(name, obs.leaf_names, obs.leaf_ips):
        out.append(Finding("name.mismatch", crit, f"the certificate does not cover {name}"))
    seconds = (obs.not_after - now).total_seconds()
    days_left = int(seconds // 86400)
    if seconds <= 0:
        out.append(Finding("cert.expired", crit, f"the certificate expired {-days_left} days ago"))
    elif days_left < EXPIRING_DAYS:
        out.append(Finding("cert.expiring", warn, f"the certificate expires in {days_left} days"))
    if not match.known:
        out.append(
            Finding("inventory.unknown", warn, "the served certificate is not in the inventory")
        )
    elif match.renewed_by is not None and seconds > 0:
        out.append(
            Finding(
                "inventory.stale",
                warn,
                f"the certificate was renewed ({match.renewed_by}) but the old one is still "
                f"served, {days_left} days before it expires",
            )
        )
    out += _protocol_findings(obs)
    if not obs.ocsp_stapled:
        out.append(Finding("ocsp.not_stapled", note, "no OCSP response is stapled"))
    if obs.http:
        if obs.hsts is None:
            out.append(Finding("hsts.missing", warn, "HTTP answers without HSTS"))
        else:
            age = _hsts_max_age(obs.hsts)
            if age is None or age < HSTS_MIN_SECONDS:
                out.append(Finding("hsts.short", note, "HSTS max-age is shorter than a year"))
    return Verdict(tuple(out), days_left)


def _protocol_findings(obs: Observation) -> list[Finding]:
    out: list[Finding] = []
    if Protocol.SSL3 in obs.offered:
        out.append(Finding("protocol.ssl", Severity.CRITICAL, "SSL 3.0 is offered"))
    for old, code in ((Protocol.TLS1_0, "protocol.tls1_0"), (Protocol.TLS1_1, "protocol.tls1_1")):
        if old in obs.offered:
            out.append(
                Finding(code, Severity.WARNING, f"{_plain(old)} is offered (no longer supported)")
            )
    if Protocol.TLS1_2 in obs.offered and obs.forward_secret_tls12 is False:
        out.append(
            Finding(
                "protocol.no_forward_secrecy",
                Severity.WARNING,
                "TLS 1.2 is offered without forward-secret cipher suites",
            )
        )
    if Protocol.TLS1_3 in obs.offered:
        out.append(Finding("protocol.tls1_3", Severity.NOTE, "TLS 1.3 is offered"))
    elif Protocol.TLS1_3 in obs.tested:
        out.append(Finding("protocol.no_tls1_3", Severity.NOTE, "TLS 1.3 is not offered"))
    return out


def _plain(p: Protocol) -> str:
    return p.value.replace("TLSv", "TLS ").replace("SSLv", "SSL ")


# --- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(text: str, default_port: int = DEFAULT_PORT) -> Target:
    """``host``, ``host:port``, ``[v6]:port`` or an address; raises on anything else."""
    raw = text.strip()
    if not raw or raw != text or any(c in raw for c in "/?#@ "):
        raise InvalidInput("endpoint.bad_target", f"not a host or host:port: {text!r}")
    host, port_text = raw, ""
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise InvalidInput("endpoint.bad_target", f"not a host or host:port: {text!r}")
        port_text = rest[1:]
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidInput("endpoint.bad_port", f"not a port number: {port_text!r}")
        port = int(port_text)
    host = host.lower().rstrip(".") if not raw.endswith("..") else host
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if not _HOSTNAME.match(host):
            raise InvalidInput("endpoint.bad_target", f"not a host name: {host!r}") from None
    return Target(host, port)


def expand_targets(texts: Sequence[str], default_port: int = DEFAULT_PORT) -> list[Target]:
    """Discovery targets: ``host[:port]`` and ``CIDR[:port,port…]`` (``10.0.0.0/28:443,8443``),
    each address of a range (hosts only) at each port, in order, without repeats."""
    out: dict[Target, None] = {}
    for text in texts:
        if "/" in text:
            if text.startswith("["):  # [2001:db8::/120]:443
                net_text, _, rest = text[1:].partition("]")
                ports_text = rest.removeprefix(":")
            else:
                net_text, _, ports_text = text.partition(":")
            try:
                net = ipaddress.ip_network(net_text, strict=False)
            except ValueError:
                raise InvalidInput("endpoint.bad_target", f"not a CIDR range: {text!r}") from None
            ports = _ports(ports_text, default_port)
            if net.num_addresses > MAX_DISCOVERY_TARGETS * 4:
                raise InvalidInput(
                    "endpoint.too_many", f"{text} has more addresses than one run scans"
                )
            hosts = list(net.hosts()) if net.num_addresses > 2 else list(net)
            for ip in hosts:
                for port in ports:
                    out[Target(str(ip), port)] = None
        else:
            out[parse_target(text, default_port)] = None
        if len(out) > MAX_DISCOVERY_TARGETS:
            raise InvalidInput(
                "endpoint.too_many",
                f"more than {MAX_DISCOVERY_TARGETS} endpoints in one run; split the ranges",
            )
    return list(out)


def _ports(text: str, default_port: int) -> list[int]:
    if not text:
        return [default_port]
    ports = []
    for part in text.split(","):
        if not part.isdigit() or not 0 < int(part) < 65536:
            raise InvalidInput("endpoint.bad_port", f"not a port number: {part!r}")
        ports.append(int(part))
    return ports


def check_address(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    allowed: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    """Refuse a loopback, private, link-local or otherwise non-public address unless an
    operator allowed its range (certdesk runs inside the data center: allowing its own
    networks is the normal set-up)."""
    if any(ip in net for net in allowed):
        return
    if ip.is_global and not ip.is_multicast:
        return
    raise PolicyRefusal(
        "endpoint.address_not_allowed",
        f"{ip} is a private, loopback or reserved address; an operator allows such ranges "
        "with CERTDESK_VERIFY_ALLOW_NETWORKS",
        rule="R14",
    )


# --- external certificates (R18) ---------------------------------------------------------------


def attribute(names: Sequence[str], grants: Sequence[tuple[int, str, str]]) -> int | None:
    """The organization whose grants cover every one of ``names`` (R2), or None (unassigned,
    for cert services) when none does or when two different organizations would.

    ``grants`` are ``(org_id, kind, name)``; a wildcard name is covered like its base name's
    subdomains (``*.x.dmv.ca.gov`` by the zone ``dmv.ca.gov``; never by a host grant).
    """
    if not names:
        return None
    owners: set[int] | None = None
    for name in (n.lower().rstrip(".") for n in names):
        covering = {
            org
            for org, kind, grant in grants
            if (kind == "host" and name == grant)
            or (kind == "zone" and (name == grant or name.endswith("." + grant)))
        }
        owners = covering if owners is None else owners & covering
        if not owners:
            return None
    return owners.pop() if owners and len(owners) == 1 else None
