"""Challenge solvers (RFC 8555 §8): how certdesk proves control of a name to a vendor.

A solver is chosen per issuer and per zone (:class:`ByZone`). ``PreValidated`` answers no
challenge at all: the vendor's authorizations are already valid for an organization's
pre-validated domains, and a pending one is a configuration problem to report, not to work
around. ``Http01Solver`` publishes token → key authorization through a callable: certdesk's
own ``/.well-known/acme-challenge/`` route (:class:`ChallengeResponses`) or a webroot
(:class:`WebrootPublisher`). dns-01 lives in :mod:`certdesk.ca.acme.dns01`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from josepy import b64

from certdesk.errors import Conflict, InvalidInput

# RFC 8555 §8.3: the token is base64url; anything else could escape the challenge directory.
# RFC 8555 §11.3 asks for at least 128 bits of entropy (22 characters; vendors send 43); a
# token over 128 characters is refused rather than stored or used as a file name.
TOKEN_MAX_LENGTH = 128
TOKEN_PATTERN = rf"^[A-Za-z0-9_-]{{16,{TOKEN_MAX_LENGTH}}}$"
_TOKEN = re.compile(TOKEN_PATTERN)
WELL_KNOWN = ".well-known/acme-challenge"


@dataclass(frozen=True)
class ChallengeTask:
    """One challenge to answer for one identifier."""

    identifier: str  # the DNS name the authorization is for (no "*." even for a wildcard)
    wildcard: bool
    challenge_type: str
    token: str
    key_authorization: str  # RFC 8555 §8.1: token "." base64url(JWK thumbprint)

    @property
    def dns_record(self) -> str:
        """RFC 8555 §8.4: the TXT record's owner name."""
        return f"_acme-challenge.{self.identifier}."

    @property
    def dns_value(self) -> str:
        """RFC 8555 §8.4: base64url(SHA-256(key authorization)) without padding."""
        digest = hashlib.sha256(self.key_authorization.encode("ascii")).digest()
        return b64.b64encode(digest).decode("ascii")


class Solver(Protocol):
    @property
    def challenge_type(self) -> str | None:
        """The challenge this solver answers; None for pre-validated names."""
        ...

    def present(self, tasks: Sequence[ChallengeTask]) -> None:
        """Make every task's answer visible to the vendor; return only when it is."""
        ...

    def cleanup(self, tasks: Sequence[ChallengeTask]) -> None: ...


class PreValidated:
    """No challenges: the vendor has validated the organization's domains beforehand."""

    challenge_type: str | None = None

    def present(self, tasks: Sequence[ChallengeTask]) -> None:
        if tasks:
            names = ", ".join(sorted({t.identifier for t in tasks}))
            raise Conflict(
                "acme.not_prevalidated",
                f"the vendor has not validated {names} for this account; ask the vendor to"
                " validate the domain or choose a solver that answers challenges",
            )

    def cleanup(self, tasks: Sequence[ChallengeTask]) -> None:
        return None


def check_token(token: str) -> str:
    if not _TOKEN.match(token):
        raise InvalidInput(
            "acme.bad_token", "the vendor sent a challenge token that is not base64url"
        )
    return token


class ChallengeResponses:
    """Token → key authorization, served by certdesk at ``/.well-known/acme-challenge/``.

    Shared by the solver (which publishes) and the web route (which looks up), in one
    process; thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, str] = {}

    def publish(self, token: str, key_authorization: str) -> None:
        with self._lock:
            self._answers[check_token(token)] = key_authorization

    def withdraw(self, token: str) -> None:
        with self._lock:
            self._answers.pop(token, None)

    def lookup(self, token: str) -> str | None:
        with self._lock:
            return self._answers.get(token)


class WebrootPublisher:
    """Writes ``<root>/.well-known/acme-challenge/<token>`` for a web server to serve."""

    def __init__(self, root: Path) -> None:
        self.directory = root / WELL_KNOWN

    def publish(self, token: str, key_authorization: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / check_token(token)
        partial = target.with_suffix(".part")
        partial.write_text(key_authorization, encoding="ascii")
        partial.chmod(0o644)
        partial.replace(target)  # whole or absent, never half-written when fetched

    def withdraw(self, token: str) -> None:
        (self.directory / check_token(token)).unlink(missing_ok=True)


class Http01Solver:
    """RFC 8555 §8.3: publish the key authorization at the token's well-known URL."""

    challenge_type: str | None = "http-01"

    def __init__(
        self, publish: Callable[[str, str], None], withdraw: Callable[[str], None]
    ) -> None:
        self._publish = publish
        self._withdraw = withdraw

    def present(self, tasks: Sequence[ChallengeTask]) -> None:
        for task in tasks:
            if task.wildcard:
                raise InvalidInput(
                    "acme.http01_wildcard", "a wildcard name can only be validated by dns-01"
                )
            self._publish(task.token, task.key_authorization)

    def cleanup(self, tasks: Sequence[ChallengeTask]) -> None:
        for task in tasks:
            self._withdraw(task.token)


class ByZone:
    """The solver for a name: the one of its longest configured zone, else the default."""

    def __init__(self, default: Solver, zones: Mapping[str, Solver] | None = None) -> None:
        self.default = default
        self.zones = {z.lower().rstrip("."): s for z, s in (zones or {}).items()}

    def for_name(self, name: str) -> Solver:
        labels = name.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            solver = self.zones.get(".".join(labels[i:]))
            if solver is not None:
                return solver
        return self.default
