"""DNS-PERSIST-01 (CA/B Forum ballot SC-088, draft-ietf-acme-dns-persist): a standing TXT
record at ``_validation-persist.NAME`` that proves control of NAME for one ACME account and
one CA, until its ``persistUntil`` (R17).

The record's RDATA is a CAA issue-value (RFC 8659 §4.2)::

    issuer.example; accounturi=<account>; policy=wildcard; persistUntil=1767225600

* the issuer-domain-name must be this CA's (``CERTDESK_ACME_ISSUER_DOMAIN_NAME``);
* ``accounturi`` names the account: the hashed URI of the current draft
  (``<accountHashPrefix>sha-256/<base64url(SHA-256(len(domain) || domain || thumbprint ||
  account URL))>``, with the domain or ``*``), or the plain account URL of the draft's
  earlier revisions, which clients still write;
* ``policy=wildcard`` (any case) lets the record prove a wildcard of NAME too;
* ``persistUntil`` (UNIX seconds) ends the record: after it the record proves nothing, and
  no authorization proved by it may outlive it; a value that is not an integer makes the
  record malformed;
* unknown parameters are ignored (forward compatibility); other CAs' records are ignored.

Everything here is pure; the DNS lookup is the VA's (services/acme/dns_persist01.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from certdesk.core.acme_states import b64url

LABEL = "_validation-persist"
HASH_ALG = "sha-256"  # the Named Information registry's name for SHA-256 (RFC 6920 §9.4)
# Days before persistUntil at which the organization's administrators are warned.
WARN_DAYS = (30, 7, 1)

_TAG = re.compile(r"^[A-Za-z0-9](?:-*[A-Za-z0-9])*$")
_VALUE = re.compile(r"^[\x21-\x3a\x3c-\x7e]*$")


class RecordRefused(Exception):
    """Why a record (or every record) fails, as an RFC 8555 §6.7 problem type."""

    def __init__(self, acme_type: str, detail: str) -> None:
        super().__init__(detail)
        self.acme_type = acme_type
        self.detail = detail


@dataclass(frozen=True)
class PersistRecord:
    issuer: str
    accounturi: str | None
    wildcard: bool
    persist_until: datetime | None


def validation_name(domain: str) -> str:
    """Where the record lives: ``_validation-persist.`` before the name (§4)."""
    return f"{LABEL}.{domain}"


def hashed_account_uri(prefix: str, domain: str, thumbprint: str, account_url: str) -> str:
    """The draft's hashed account URI (§4.1): ``domain`` is the validated name, or ``*`` for
    a value that may serve every domain."""
    raw = domain.encode("ascii")
    digest = hashlib.sha256(
        bytes([len(raw)]) + raw + thumbprint.encode("ascii") + account_url.encode("ascii")
    ).digest()
    return f"{prefix}{HASH_ALG}/{b64url(digest)}"


def account_uris(prefix: str, domain: str, thumbprint: str, account_url: str) -> frozenset[str]:
    """Every accounturi value that names this account for ``domain``."""
    return frozenset(
        {
            account_url,
            hashed_account_uri(prefix, domain, thumbprint, account_url),
            hashed_account_uri(prefix, "*", thumbprint, account_url),
        }
    )


def record_value(
    issuer: str, accounturi: str, *, wildcard: bool, persist_until: datetime | None
) -> str:
    """The RDATA certdesk shows an administrator to publish."""
    parts = [issuer, f"accounturi={accounturi}"]
    if wildcard:
        parts.append("policy=wildcard")
    if persist_until is not None:
        parts.append(f"persistUntil={int(persist_until.timestamp())}")
    return "; ".join(parts)


def parse_record(text: str) -> PersistRecord:
    """An issue-value (RFC 8659 §4.2) read as a dns-persist-01 record; RecordRefused
    (malformed) when it is not one."""
    head, *params = text.split(";")
    issuer = head.strip().lower()
    if not issuer:
        raise RecordRefused("malformed", "the record names no issuer domain")
    seen: dict[str, str] = {}
    for param in params:
        if not param.strip():
            continue
        tag, eq, value = param.partition("=")
        tag, value = tag.strip(), value.strip()
        if not eq or not _TAG.match(tag) or not _VALUE.match(value):
            raise RecordRefused("malformed", f"the parameter {param.strip()!r} is not tag=value")
        key = tag.lower()
        if key in seen:
            raise RecordRefused("malformed", f"the parameter {tag} appears twice")
        seen[key] = value
    until = None
    if "persistuntil" in seen:
        raw = seen["persistuntil"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise RecordRefused("malformed", f"persistUntil={raw} is not a UNIX time")
        until = datetime.fromtimestamp(int(raw), UTC)
    return PersistRecord(
        issuer=issuer,
        accounturi=seen.get("accounturi"),
        wildcard=seen.get("policy", "").lower() == "wildcard",
        persist_until=until,
    )


def satisfying(
    values: Iterable[str],
    *,
    issuers: Sequence[str],
    accounts: frozenset[str],
    wildcard: bool,
    now: datetime,
) -> PersistRecord:
    """The record among ``values`` (the TXT strings at the validation name) that proves the
    authorization (§4.2, §4.3.2): this CA's issuer, this account, ``policy=wildcard`` for a
    wildcard, ``persistUntil`` not passed. RecordRefused with the first reason otherwise."""
    reasons: list[RecordRefused] = []
    wanted = {i.lower().rstrip(".") for i in issuers}
    for text in values:
        issuer = text.split(";", 1)[0].strip().lower()
        if issuer not in wanted:
            continue  # another CA's record (§4.3.2 step 2)
        try:
            record = parse_record(text)
            _check(record, accounts, wildcard, now)
        except RecordRefused as exc:
            reasons.append(exc)
            continue
        return record
    if reasons:
        raise reasons[0]
    raise RecordRefused(
        "incorrectResponse", f"no record names the issuer {' or '.join(sorted(wanted))}"
    )


def _check(record: PersistRecord, accounts: frozenset[str], wildcard: bool, now: datetime) -> None:
    if record.accounturi is None:
        raise RecordRefused("malformed", "the record has no accounturi")
    if record.accounturi.startswith("http") and "/sha-" in record.accounturi:
        alg = record.accounturi.rsplit("/", 2)[-2]
        if alg != HASH_ALG:
            raise RecordRefused("malformed", f"the hash algorithm {alg} is not accepted")
    if record.accounturi not in accounts:
        raise RecordRefused("unauthorized", "the record names another ACME account")
    if wildcard and not record.wildcard:
        raise RecordRefused("unauthorized", "a wildcard needs a record with policy=wildcard")
    if record.persist_until is not None and record.persist_until <= now:
        raise RecordRefused("unauthorized", "the record's persistUntil has passed")


def warning_due(
    persist_until: datetime | None, warned_days: int | None, now: datetime
) -> int | None:
    """The warning (days before persistUntil, one of WARN_DAYS) to send now, if any: the
    nearest stage reached and not yet sent; once the record lapsed, none."""
    if persist_until is None or now >= persist_until:
        return None
    reached = [d for d in WARN_DAYS if now >= persist_until - timedelta(days=d)]
    if not reached:
        return None
    stage = min(reached)
    if warned_days is not None and warned_days <= stage:
        return None
    return stage
