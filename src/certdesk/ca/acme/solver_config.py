"""A vendor issuer's challenge solvers from its stored settings (``acme_issuers.solver_config``).

The issuer row holds a solver kind (:class:`certdesk.core.issuers.Solver`), a JSON settings
object and, sealed apart from it, the TSIG secret. :func:`parse_solver_config` turns the JSON
into typed settings, refusing each bad field by name; :meth:`SolverConfig.to_dict` is its
inverse; :func:`build_solvers` makes the :class:`~certdesk.ca.acme.solvers.ByZone` an
:class:`~certdesk.ca.acme.backend.AcmeIssuer` uses. :func:`solvers_for` does both steps.

The stored object::

    {
      "dns01": {                        # RFC 2136 updates with TSIG (RFC 8945)
        "server": "192.0.2.53",         # the zones' primary, an address
        "port": 53,
        "tsig_name": "certdesk-update.",
        "tsig_algorithm": "hmac-sha256",
        "zones": ["dmv.ca.gov"],        # each gets dns-01, whatever the issuer's kind
        "authoritative": ["192.0.2.53", "[2001:db8::53]:53"],  # waited on; [] = the primary
        "propagation_timeout": 60       # seconds to wait for every authoritative server
      },
      "http01": {"webroot": "/var/www/html"}  # or null: certdesk serves the answers itself
    }

The kind chooses the solver for names in none of the dns-01 zones: ``none`` (pre-validated
domains), ``dns-01`` (a name outside every zone is refused with a clear reason: there is no
server to update for it) or ``http-01`` (certdesk's ``/.well-known/acme-challenge/`` route,
or the webroot). Nothing here touches the network: the authoritative servers are the ones
stored, never looked up while building.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certdesk.ca.acme.dns01 import NameServer, Rfc2136Solver, TsigKey
from certdesk.ca.acme.solvers import (
    ByZone,
    ChallengeTask,
    Http01Solver,
    PreValidated,
    Solver,
    WebrootPublisher,
)
from certdesk.core.issuers import Solver as SolverKind
from certdesk.errors import Conflict, InvalidInput

# RFC 8945 §6: HMAC-SHA256 is mandatory to implement; MD5 and SHA-1 are not accepted here.
TSIG_ALGORITHMS = ("hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
MAX_PROPAGATION_TIMEOUT = 3600.0  # an hour: longer means the vendor's authorization expires
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

Publish = Callable[[str, str], None]
Withdraw = Callable[[str], None]


def _bad(where: str, problem: str) -> InvalidInput:
    return InvalidInput("solver.config", f"solver_config.{where}: {problem}", field=where)


@dataclass(frozen=True)
class Dns01Config:
    """dns-01 by RFC 2136 dynamic update, for the names in ``zones``."""

    server: str
    tsig_name: str
    zones: tuple[str, ...]
    port: int = 53
    tsig_algorithm: str = "hmac-sha256"
    authoritative: tuple[NameServer, ...] = ()
    propagation_timeout: float = 60.0

    @property
    def primary(self) -> NameServer:
        return NameServer(self.server, self.port)


@dataclass(frozen=True)
class Http01Config:
    """http-01: a webroot another web server serves, or None for certdesk's own route."""

    webroot: Path | None = None


@dataclass(frozen=True)
class SolverConfig:
    dns01: Dns01Config | None = None
    http01: Http01Config | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in ``acme_issuers.solver_config``."""
        out: dict[str, Any] = {}
        if self.dns01 is not None:
            d = self.dns01
            out["dns01"] = {
                "server": d.server,
                "port": d.port,
                "tsig_name": d.tsig_name,
                "tsig_algorithm": d.tsig_algorithm,
                "zones": list(d.zones),
                "authoritative": [_server_text(s) for s in d.authoritative],
                "propagation_timeout": d.propagation_timeout,
            }
        if self.http01 is not None:
            webroot = self.http01.webroot
            out["http01"] = {"webroot": None if webroot is None else str(webroot)}
        return out


# --- parsing --------------------------------------------------------------------------------


def parse_solver_config(kind: SolverKind, data: Mapping[str, Any] | None) -> SolverConfig:
    """Typed settings for an issuer of solver ``kind``; :class:`InvalidInput` (code
    ``solver.config``, ``field`` naming the bad one) for anything else."""
    kind = SolverKind(kind)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidInput("solver.config", "solver_config: must be an object", field="")
    _only(data, "", ("dns01", "http01"))
    dns01 = None if data.get("dns01") is None else _dns01(data["dns01"])
    http01 = None
    if "http01" in data:
        if kind is not SolverKind.HTTP01:
            raise _bad("http01", f"only for the http-01 solver, not {kind.value}")
        http01 = _http01(data["http01"])
    if kind is SolverKind.DNS01 and dns01 is None:
        raise _bad("dns01", "the dns-01 solver needs its server, TSIG key name and zones")
    if kind is SolverKind.HTTP01 and http01 is None:
        http01 = Http01Config()
    return SolverConfig(dns01=dns01, http01=http01)


def _only(data: Mapping[str, Any], where: str, known: Sequence[str]) -> None:
    for key in data:
        if key not in known:
            place = f"{where}.{key}" if where else str(key)
            raise _bad(place, f"unknown field (known: {', '.join(known)})")


def _dns01(data: object) -> Dns01Config:
    if not isinstance(data, Mapping):
        raise _bad("dns01", "must be an object")
    _only(
        data,
        "dns01",
        (
            "server",
            "port",
            "tsig_name",
            "tsig_algorithm",
            "zones",
            "authoritative",
            "propagation_timeout",
        ),
    )
    for required in ("server", "tsig_name", "zones"):
        if data.get(required) is None:
            raise _bad(f"dns01.{required}", "is required")
    port = _port(data.get("port", 53), "dns01.port")
    return Dns01Config(
        server=_address(data["server"], "dns01.server"),
        port=port,
        tsig_name=_tsig_name(data["tsig_name"]),
        tsig_algorithm=_algorithm(data.get("tsig_algorithm", "hmac-sha256")),
        zones=_zones(data["zones"]),
        authoritative=_servers(data.get("authoritative", []), port),
        propagation_timeout=_timeout(data.get("propagation_timeout", 60.0)),
    )


def _port(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _bad(where, "must be a port number from 1 to 65535")
    return value


def _address(value: object, where: str) -> str:
    # An address, not a host name: finding the DNS server must not depend on DNS.
    if not isinstance(value, str):
        raise _bad(where, "must be an IP address")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise _bad(where, f"{value[:80]!r} is not an IP address") from None


def _server_text(server: NameServer) -> str:
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"{host}:{server.port}"


def _servers(value: object, default_port: int) -> tuple[NameServer, ...]:
    where = "dns01.authoritative"
    if not isinstance(value, list):
        raise _bad(where, "must be a list of addresses (ADDRESS or ADDRESS:PORT)")
    servers: list[NameServer] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad(f"{where}.{i}", "must be ADDRESS or ADDRESS:PORT")
        text = item.strip()
        host, port = text, default_port
        bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d{1,5}))?", text)
        if bracketed:
            host = bracketed.group(1)
            port = int(bracketed.group(2)) if bracketed.group(2) else default_port
        elif text.count(":") == 1:
            host, _, digits = text.partition(":")
            if not digits.isdigit():
                raise _bad(f"{where}.{i}", f"{text[:80]!r} has no port number after ':'")
            port = int(digits)
        servers.append(NameServer(_address(host, f"{where}.{i}"), _port(port, f"{where}.{i}")))
    if len(set(servers)) != len(servers):
        raise _bad(where, "lists a server twice")
    return tuple(servers)


def _dns_name(value: str) -> str | None:
    """The name lower-case without its final dot, or None if it is not a host name."""
    name = value.strip().lower().removesuffix(".")
    if not name or len(name) > 253 or not all(_LABEL.match(x) for x in name.split(".")):
        return None
    return name


def _tsig_name(value: object) -> str:
    name = _dns_name(value) if isinstance(value, str) else None
    if name is None:
        raise _bad("dns01.tsig_name", "must be the TSIG key's name, as in the server's key")
    return name + "."


def _algorithm(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in TSIG_ALGORITHMS:
        raise _bad("dns01.tsig_algorithm", f"must be one of {', '.join(TSIG_ALGORITHMS)}")
    return value.strip().lower()


def _zones(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _bad("dns01.zones", "must be a non-empty list of zone names")
    zones: list[str] = []
    for i, item in enumerate(value):
        zone = _dns_name(item) if isinstance(item, str) else None
        if zone is None or "." not in zone:
            raise _bad(f"dns01.zones.{i}", f"{str(item)[:80]!r} is not a DNS zone name")
        if zone in zones:
            raise _bad(f"dns01.zones.{i}", f"{zone} is listed twice")
        zones.append(zone)
    return tuple(zones)


def _timeout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_PROPAGATION_TIMEOUT
    ):
        raise _bad(
            "dns01.propagation_timeout",
            f"must be a number of seconds above 0, at most {MAX_PROPAGATION_TIMEOUT:.0f}",
        )
    return float(value)


def _http01(data: object) -> Http01Config:
    if data is None:
        return Http01Config()
    if not isinstance(data, Mapping):
        raise _bad("http01", "must be an object")
    _only(data, "http01", ("webroot",))
    webroot = data.get("webroot")
    if webroot is None:
        return Http01Config()
    if not isinstance(webroot, str) or not webroot.startswith("/") or "\x00" in webroot:
        raise _bad("http01.webroot", "must be an absolute directory path")
    path = Path(webroot)
    if ".." in path.parts:
        raise _bad("http01.webroot", "must not contain '..'")
    return Http01Config(webroot=path)


# --- building -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutsideZones:
    """The default of a dns-01 issuer: a name in none of its zones has no server to update."""

    zones: tuple[str, ...] = field(default=())
    challenge_type: str | None = None

    def present(self, tasks: Sequence[ChallengeTask]) -> None:
        if tasks:
            names = ", ".join(sorted({t.identifier for t in tasks}))
            raise Conflict(
                "acme.no_solver",
                f"{names} is in none of the zones this issuer answers dns-01 for"
                f" ({', '.join(self.zones)}); add the zone to the issuer's settings",
            )

    def cleanup(self, tasks: Sequence[ChallengeTask]) -> None:
        return None


def tsig_key(config: Dns01Config, secret: str | None) -> TsigKey:
    """The TSIG key from the settings and the (unsealed) secret, which must be base64."""
    if not secret:
        raise InvalidInput("solver.secret", "the dns-01 solver needs the TSIG key's secret")
    try:
        raw = base64.b64decode(secret.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "solver.secret", "the TSIG secret must be base64, as in the server's key statement"
        ) from None
    if not raw:
        raise InvalidInput("solver.secret", "the TSIG secret is empty")
    return TsigKey(config.tsig_name, secret.strip(), config.tsig_algorithm)


def build_solvers(
    kind: SolverKind,
    config: SolverConfig,
    secret: str | None,
    http_publish: Publish | None,
    http_withdraw: Withdraw | None,
) -> ByZone:
    """The per-zone solvers of one issuer (no network access while building)."""
    kind = SolverKind(kind)
    zones: dict[str, Solver] = {}
    if config.dns01 is not None:
        d = config.dns01
        key = tsig_key(d, secret)
        for zone in d.zones:
            zones[zone] = Rfc2136Solver(
                zone=zone,
                primary=d.primary,
                tsig=key,
                authoritative=d.authoritative,
                propagation_timeout=d.propagation_timeout,
            )
    default: Solver
    if kind is SolverKind.NONE:
        default = PreValidated()
    elif kind is SolverKind.DNS01:
        default = OutsideZones(tuple(zones))
    else:
        webroot = config.http01.webroot if config.http01 is not None else None
        if webroot is not None:
            publisher = WebrootPublisher(webroot)
            default = Http01Solver(publisher.publish, publisher.withdraw)
        elif http_publish is None or http_withdraw is None:
            raise Conflict(
                "solver.no_http_publisher",
                "this process cannot publish http-01 answers: give the issuer a webroot",
            )
        else:
            default = Http01Solver(http_publish, http_withdraw)
    return ByZone(default, zones)


def solvers_for(
    solver_kind: SolverKind,
    config_dict: Mapping[str, Any] | None,
    secret: str | None,
    http_publish: Publish | None,
    http_withdraw: Withdraw | None,
) -> ByZone:
    """The issuer registry's entry point: stored kind, settings and secret → solvers."""
    config = parse_solver_config(solver_kind, config_dict)
    return build_solvers(solver_kind, config, secret, http_publish, http_withdraw)
