"""dns-01 (RFC 8555 §8.4) through RFC 2136 dynamic update signed with TSIG (RFC 8945).

The TXT records are added in one update to the zone's primary, then the solver waits until
every one of the zone's authoritative servers answers with them, so the vendor's resolver
cannot see an old answer. Cleanup deletes exactly the values it added (other clients' records
for the same name stay).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update

from certdesk.ca.acme.solvers import ChallengeTask
from certdesk.errors import Conflict, InvalidInput, Unavailable


@dataclass(frozen=True)
class NameServer:
    host: str  # an address, not a name: nothing here depends on another resolver
    port: int = 53


@dataclass(frozen=True)
class TsigKey:
    name: str
    secret: str = field(repr=False)  # base64, as in BIND's key statement
    algorithm: str = "hmac-sha256"


def find_authoritative(zone: str, via: NameServer, *, timeout: float = 3.0) -> list[NameServer]:
    """The zone's NS servers' addresses, asked of ``via`` (glue or in-zone A records).

    The port of ``via`` is kept: on a lab network every server listens on the same port.
    """
    origin = dns.name.from_text(zone)
    answer = _ask(via, origin, dns.rdatatype.NS, timeout)
    servers: list[NameServer] = []
    for rrset in answer.answer:
        for ns in rrset:
            target = ns.target
            reply = _ask(via, target, dns.rdatatype.A, timeout)
            for a_set in reply.answer:
                servers.extend(NameServer(a.address, via.port) for a in a_set)
    if not servers:
        raise Unavailable("dns01.no_authoritative", f"no authoritative server found for {zone}")
    return sorted(set(servers), key=lambda s: (s.host, s.port))


class Rfc2136Solver:
    challenge_type: str | None = "dns-01"

    def __init__(
        self,
        *,
        zone: str,
        primary: NameServer,
        tsig: TsigKey,
        authoritative: Sequence[NameServer] = (),
        ttl: int = 60,
        timeout: float = 5.0,
        propagation_timeout: float = 60.0,
        poll_interval: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.zone = dns.name.from_text(zone)
        self.primary = primary
        self.keyring = dns.tsigkeyring.from_text({tsig.name: (tsig.algorithm, tsig.secret)})
        self.key_name = dns.name.from_text(tsig.name)
        self.authoritative = tuple(authoritative) or (primary,)
        self.ttl = ttl
        self.timeout = timeout
        self.propagation_timeout = propagation_timeout
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._monotonic = monotonic

    def _owner(self, task: ChallengeTask) -> dns.name.Name:
        owner = dns.name.from_text(task.dns_record)
        if not owner.is_subdomain(self.zone):
            raise InvalidInput(
                "dns01.outside_zone",
                f"{task.identifier} is not in the zone {self.zone.to_text()} this solver updates",
            )
        return owner

    def _update(self, tasks: Sequence[ChallengeTask], *, add: bool) -> None:
        update = dns.update.UpdateMessage(self.zone, keyring=self.keyring, keyname=self.key_name)
        for task in tasks:
            owner = self._owner(task).relativize(self.zone)
            value = f'"{task.dns_value}"'
            if add:
                update.add(owner, self.ttl, "TXT", value)
            else:
                update.delete(owner, "TXT", value)
        try:
            response = dns.query.tcp(
                update, self.primary.host, port=self.primary.port, timeout=self.timeout
            )
        except (dns.tsig.PeerError, dns.tsig.BadSignature, dns.tsig.BadKey) as err:
            # RFC 8945 §5.3: the primary does not accept our key; waiting will not help.
            raise Conflict(
                "dns01.update_refused",
                f"the DNS primary for {self.zone.to_text()} refused the TSIG key"
                f" {self.key_name.to_text()}: {type(err).__name__} ({err})",
            ) from err
        except (dns.exception.DNSException, OSError) as err:
            raise Unavailable(
                "dns01.unreachable",
                f"the DNS primary for {self.zone.to_text()} did not answer: {err}",
            ) from err
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise Conflict(
                "dns01.update_refused",
                f"the DNS primary refused the update of {self.zone.to_text()}:"
                f" {dns.rcode.to_text(rcode)}",
            )

    def present(self, tasks: Sequence[ChallengeTask]) -> None:
        if not tasks:
            return
        self._update(tasks, add=True)
        self.wait_visible(tasks)

    def cleanup(self, tasks: Sequence[ChallengeTask]) -> None:
        if tasks:
            self._update(tasks, add=False)

    def wait_visible(self, tasks: Sequence[ChallengeTask]) -> None:
        """Return once every authoritative server answers every TXT value."""
        wanted: dict[dns.name.Name, set[str]] = {}
        for task in tasks:
            wanted.setdefault(self._owner(task), set()).add(task.dns_value)
        deadline = self._monotonic() + self.propagation_timeout
        for server in self.authoritative:
            for owner, values in wanted.items():
                while not values <= self._txt(server, owner):
                    if self._monotonic() >= deadline:
                        raise Unavailable(
                            "dns01.not_visible",
                            f"{owner.to_text()} TXT is not on {server.host}:{server.port}"
                            f" after {self.propagation_timeout:.0f} s",
                        )
                    self._sleep(self.poll_interval)

    def _txt(self, server: NameServer, owner: dns.name.Name) -> set[str]:
        try:
            reply = _ask(server, owner, dns.rdatatype.TXT, self.timeout)
        except Unavailable:
            return set()
        found: set[str] = set()
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                for rdata in rrset:
                    found.add(b"".join(rdata.strings).decode("ascii"))
        return found


def _ask(
    server: NameServer, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, timeout: float
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD  # ask the server itself, not its recursion
    try:
        try:
            return dns.query.udp(query, server.host, port=server.port, timeout=timeout / 2)
        except dns.exception.Timeout:
            # A lost datagram is not an answer: ask once more over TCP (RFC 7766).
            return dns.query.tcp(query, server.host, port=server.port, timeout=timeout / 2)
    except (dns.exception.DNSException, OSError) as err:
        raise Unavailable(
            "dns01.unreachable", f"{server.host}:{server.port} did not answer: {err}"
        ) from err
