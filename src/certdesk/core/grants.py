"""Which names an organization may obtain: rule R2 (grants), and the verdicts of R1 and R2.

An organization holds grants (:class:`Grant`): a *zone* grant covers a name, every name below
it and wildcards below it; a *host* grant exactly one name. Cert services may issue any name
R1 allows (:mod:`certdesk.core.names`). :func:`judge` answers for one name without raising
(for ``certdesk policy check`` and the console); :func:`require_allowed` is the gate the
issuance pipeline calls and raises. Codes: ``name.not_granted`` (R2); allow verdicts carry
``name.allowed``; ``grant.invalid`` and ``grant.wildcard`` for a malformed grant.

Pure, like :mod:`certdesk.core.names`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from certdesk.core.names import (
    DEFAULT_SUFFIXES,
    WILDCARD,
    check_name,
    check_name_count,
    normalize,
    shown,
    suffix_for,
)
from certdesk.errors import InvalidInput, PolicyRefusal

__all__ = ["Grant", "GrantKind", "Verdict", "judge", "require_allowed"]

ALLOWED = "name.allowed"
NOT_GRANTED = "name.not_granted"


class GrantKind(StrEnum):
    """The two shapes of an R2 grant (the seed's "third-level domains" and "specific URLs")."""

    ZONE = "zone"  # the name, every name below it, and wildcards at any depth below it
    HOST = "host"  # exactly that one name: no wildcard, no subdomain


@dataclass(frozen=True)
class Grant:
    """One R2 grant held by an organization, e.g. ``zone:dmv.ca.gov``."""

    kind: GrantKind
    name: str  # normalized A-label form, never a wildcard

    def __post_init__(self) -> None:
        # Grants also come from storage, not only from parse(): refuse a malformed one at
        # construction so that covers() can rely on a normalized, wildcard-free name.
        try:
            kind = GrantKind(self.kind)
        except ValueError:
            raise InvalidInput(
                "grant.invalid", f"grant kind {self.kind!r} is not 'zone' or 'host'"
            ) from None
        object.__setattr__(self, "kind", kind)
        if self.name.startswith(WILDCARD):
            raise _wildcard_grant(f"{kind}:{self.name}")
        try:
            normalized = normalize(self.name)
        except PolicyRefusal as err:
            raise InvalidInput("grant.invalid", f"grant name: {err}") from None
        if normalized != self.name:
            raise InvalidInput(
                "grant.invalid",
                f"grant name {self.name!r} is not normalized (expected {normalized!r}); "
                "use Grant.parse",
            )

    @classmethod
    def parse(cls, text: str, suffixes: Sequence[str] = DEFAULT_SUFFIXES) -> Grant:
        """Parse ``zone:NAME`` or ``host:NAME``; the name must pass R1 and not be a wildcard.

        Raises InvalidInput(code="grant.invalid") for bad syntax or kind, and
        PolicyRefusal (rule R1 for the name, R2 for a wildcard) otherwise.
        """
        kind_text, sep, name = text.partition(":")
        if not sep:
            raise InvalidInput(
                "grant.invalid",
                f"grant {text!r} is not 'zone:NAME' or 'host:NAME'",
                grant=text,
            )
        try:
            kind = GrantKind(kind_text)
        except ValueError:
            raise InvalidInput(
                "grant.invalid",
                f"grant {text!r} has kind {kind_text!r}; use 'zone' or 'host'",
                grant=text,
            ) from None
        if name.startswith(WILDCARD):
            raise _wildcard_grant(text)
        # check_name refuses a bare suffix (name.bare_suffix): a grant of all of ca.gov
        # would make R2 meaningless, so it fails exactly like a certificate name would.
        return cls(kind, check_name(name, suffixes))

    def covers(self, normalized_name: str) -> bool:
        """True if this grant covers the (already normalized) name, per R2."""
        if self.kind is GrantKind.HOST:
            return normalized_name == self.name
        # Label boundary: "dmv2.ca.gov" must not match zone "dmv.ca.gov", so compare with
        # the leading dot. A wildcard "*.x.dmv.ca.gov" ends the same way and is covered.
        return normalized_name == self.name or normalized_name.endswith("." + self.name)

    def within(self, held: Grant) -> bool:
        """True if every name this grant covers is covered by ``held`` (R2): a zone inside
        a held zone, or a host a held grant covers. A zone is never within a host grant."""
        if self.kind is GrantKind.ZONE and held.kind is GrantKind.HOST:
            return False
        return held.covers(self.name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        """``zone dmv.ca.gov``: how a verdict names the grant."""
        return f"{self.kind} {self.name}"


def _wildcard_grant(text: str) -> PolicyRefusal:
    return PolicyRefusal(
        "grant.wildcard",
        f"grant {text!r} names a wildcard; a grant names a zone or a host, and a zone grant "
        "already covers wildcards below it",
        rule="R2",
        grant=text,
    )


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """The answer for one name: allowed or not, by which rule, and why."""

    name: str  # as given
    normalized: str | None  # None when normalization itself failed
    allowed: bool
    rule: str  # "R1" or "R2"
    code: str
    reason: str
    grant: Grant | None = None

    def line(self) -> str:
        """One line for ``certdesk policy check``: ``allow NAME (zone dmv.ca.gov)``."""
        if self.allowed:
            return f"allow {shown(self.name)} ({self.reason})"
        return f"deny {shown(self.name)}: {self.rule}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "allowed": self.allowed,
            "rule": self.rule,
            "reason": self.reason,
            "normalized": self.normalized,
            "code": self.code,
        }


def judge(
    name: str,
    suffixes: Sequence[str] = DEFAULT_SUFFIXES,
    grants: Sequence[Grant] | None = None,
) -> Verdict:
    """Judge one name under R1 and, unless ``grants`` is None (operator scope), R2.

    Never raises for a bad name. ``grants=[]`` is an organization holding no grants, so
    every name is denied by R2; only a malformed ``suffixes`` configuration raises.
    """
    try:
        normalized = normalize(name)
    except PolicyRefusal as err:
        return _denied(name, None, err)
    try:
        suffix = suffix_for(normalized, suffixes)
    except PolicyRefusal as err:
        return _denied(name, normalized, err)
    if grants is None:
        # Cert services may issue any R1 name (R2), so the allow cites the suffix.
        return Verdict(name, normalized, True, "R1", ALLOWED, f"suffix {suffix}")
    covering = [g for g in grants if g.covers(normalized)]
    if covering:
        # Cite the most specific grant (deepest name; a host before a zone of the same name)
        # so the operator sees the grant that really decides.
        best = max(covering, key=lambda g: (g.name.count("."), g.kind is GrantKind.HOST))
        return Verdict(name, normalized, True, "R2", ALLOWED, best.label, best)
    return Verdict(name, normalized, False, "R2", NOT_GRANTED, _not_granted(normalized, grants))


def _denied(name: str, normalized: str | None, err: PolicyRefusal) -> Verdict:
    reason = str(err.extra.get("reason", err.detail))
    return Verdict(name, normalized, False, err.rule, err.code, reason)


def _not_granted(normalized: str, grants: Sequence[Grant]) -> str:
    """A sentence saying why no grant covers the name (R2)."""
    if not grants:
        return "the organization holds no grants; ask cert services for a zone or host grant"
    base = normalized[2:] if normalized.startswith("*.") else normalized
    for grant in grants:
        if grant.kind is GrantKind.HOST and (base == grant.name or base.endswith("." + grant.name)):
            return (
                f"host grant {grant.name} covers only {grant.name} itself, "
                "not wildcards or names below it; a zone grant would be needed"
            )
    listed = ", ".join(g.label for g in grants[:5])
    more = f" and {len(grants) - 5} more" if len(grants) > 5 else ""
    return f"no grant of the organization covers it (grants: {listed}{more})"


def require_allowed(
    names: Sequence[str],
    suffixes: Sequence[str] = DEFAULT_SUFFIXES,
    grants: Sequence[Grant] | None = None,
    *,
    max_names: int,
) -> list[str]:
    """Return the normalized names (deduplicated, order kept) if every one is allowed.

    Otherwise raise PolicyRefusal for the first denial, carrying every verdict in
    ``extra["verdicts"]`` so that a caller can show all problems at once. No names at all
    raises InvalidInput(code="name.none"); more than ``max_names`` PolicyRefusal
    (code="name.too_many", :func:`check_name_count`).
    """
    if isinstance(names, str):
        # A bare string is a Sequence[str] too; iterating it would judge single letters.
        raise TypeError("names must be a sequence of names, not one string")
    if not names:
        raise InvalidInput("name.none", "no names given; a certificate needs at least one")
    check_name_count(names, max_names)
    verdicts = [judge(name, suffixes, grants) for name in names]
    denied = [v for v in verdicts if not v.allowed]
    if denied:
        first = denied[0]
        more = f" ({len(denied) - 1} more refused)" if len(denied) > 1 else ""
        raise PolicyRefusal(
            first.code,
            f"{shown(first.name)}: {first.rule}: {first.reason}{more}",
            rule=first.rule,
            name=first.name,
            reason=first.reason,
            verdicts=[v.as_dict() for v in verdicts],
        )
    # Every allowed verdict carries its normalized name; dict keys keep the first order.
    return list(dict.fromkeys(v.normalized for v in verdicts if v.normalized is not None))
