"""The CT logs certdesk follows: added by cert services (audited), listed with how far each
has been read.

A log is read from the entry cert services choose (:func:`parse_start`): ``head`` — the
size of its current signed tree head, what a new log should use, since a real log holds
billions of entries that are already old — ``0`` (every entry), or an entry number up to the
head. Starting anywhere but 0 needs the compact range of the entries skipped; the log gives
it without them being read (:meth:`LogReader.compact_range`), checked against the signed head
(RFC 6962: the audit path at once; static-CT: when reading reaches a head).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.ct_heads import LogKey, load_log_key
from certdesk.core.ct_merkle import EMPTY_ROOT, CompactRange
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.transparency.log_client import reader_for
from certdesk.store import ct as store
from certdesk.store.models import CtLog

__all__ = ["HEAD", "CtLogs", "LogView", "parse_start"]

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
HEAD = "head"
MAX_START = 2**63 - 1


def parse_start(text: str | int) -> int | None:
    """Where to start reading a log: ``head`` (None: its current signed tree head's size)
    or an entry number (0: the first entry)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        word = str(text).strip().lower()
        if word == HEAD:
            return None
        if not word.isascii() or not word.isdigit():
            raise InvalidInput(
                "ct.bad_start", f"{text!r} is not where to start: head, 0 or an entry number"
            )
        value = int(word)
    if not 0 <= value <= MAX_START:
        raise InvalidInput("ct.bad_start", f"{value} is not an entry number")
    return value


@dataclass(frozen=True)
class LogView:
    name: str
    url: str
    tiled: bool
    log_id: str
    active: bool
    position: int  # entries read and judged
    verified_size: int  # entries proven against a signed tree head
    head_size: int | None
    head_at: datetime | None
    checked_at: datetime | None
    last_error: str
    findings: int
    created_at: datetime
    first_entry: int = field(default=0)  # the entry reading started at

    @property
    def behind(self) -> int | None:
        return None if self.head_size is None else max(self.head_size - self.position, 0)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "kind": "static-ct" if self.tiled else "rfc6962"}


def _view(row: CtLog, findings: int) -> LogView:
    return LogView(
        row.name,
        row.url,
        row.tiled,
        row.log_id,
        row.active,
        row.position,
        row.verified_size,
        row.head_size,
        row.head_at,
        row.checked_at,
        row.last_error,
        findings,
        row.created_at,
        row.first_entry,
    )


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("ct.bad_url", f"{url!r} is not an http(s) URL of a log")
    if parts.query or parts.fragment or len(url) > 500:
        raise InvalidInput("ct.bad_url", f"{url!r}: a log URL has no query or fragment")
    return url.rstrip("/")


@dataclass(frozen=True)
class _Start:
    position: int
    compact: CompactRange
    verified: tuple[int, bytes]  # the head the range is proven against (0: none yet)


class CtLogs:
    def __init__(
        self, rt: Runtime, audit: AuditService, *, client: httpx.Client | None = None
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._client = client

    def add(
        self,
        actor: Actor,
        name: str,
        url: str,
        public_key: bytes,
        *,
        tiled: bool,
        start: str | int,
    ) -> LogView:
        """Follow a log — RFC 6962 at ``url`` (before ``/ct/v1/``) or static-CT (``tiled``:
        the monitoring prefix) — from ``start`` (:func:`parse_start`; anything but 0 asks the
        log for its head now: an unreachable log is :class:`Unavailable`)."""
        authorize(actor, Action.CT_MANAGE, None)
        name = name.strip().lower()
        if not NAME.match(name):
            raise InvalidInput(
                "ct.bad_name", f"{name!r} is not a log name (letters, digits, '.', '_', '-')"
            )
        url = check_url(url)
        key = load_log_key(public_key)
        first = parse_start(start)
        with self._rt.reads() as s:  # before asking the log anything
            if store.log_by_name(s, name) is not None:
                raise Conflict("ct.log_exists", f"a log named {name!r} is followed already")
        begin = (
            _Start(0, CompactRange(), (0, EMPTY_ROOT))
            if first == 0
            else self._start_at(name, url, key, tiled, first)
        )
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            if store.log_by_name(s, name) is not None:
                raise Conflict("ct.log_exists", f"a log named {name!r} is followed already")
            row = store.add_log(
                s,
                {
                    "name": name,
                    "url": url,
                    "tiled": tiled,
                    "public_key_der": key.der,
                    "log_id": key.log_id.hex(),
                    "active": True,
                    "position": begin.position,
                    "first_entry": begin.position,
                    "compact_range": begin.compact.to_hex(),
                    "verified_size": begin.verified[0],
                    "verified_root": begin.verified[1].hex(),
                    "last_error": "",
                    "created_by": actor.name,
                    "created_at": now,
                },
            )
            self._audit.record(
                s,
                actor,
                "ct.log_add",
                "ct_log",
                name,
                url=url,
                kind="static-ct" if tiled else "rfc6962",
                log_id=key.log_id.hex(),
                first_entry=begin.position,
            )
            return _view(row, 0)

    def _start_at(self, name: str, url: str, key: LogKey, tiled: bool, first: int | None) -> _Start:
        """Ask the log for its signed head and the compact range of the entries skipped."""
        client = self._client or httpx.Client(headers={"User-Agent": "certdesk-ct-monitor"})
        try:
            reader = reader_for(name, url, key, tiled=tiled, client=client)
            head = reader.head()
            at = head.size if first is None else first
            if at > head.size:
                raise InvalidInput(
                    "ct.start_beyond_head",
                    f"log {name} holds {head.size} entries; it cannot be read from entry {at}",
                )
            compact = reader.compact_range(at, head)
        finally:
            if self._client is None:
                client.close()
        if at == head.size and compact.root() != head.root:
            raise InvalidInput(
                "ct.inconsistent",
                f"log {name}: its tiles do not hash to its signed root of {head.size} entries",
            )
        # RFC 6962's audit path proved the range against the head; tiles only do so here.
        proven = at == head.size or not tiled
        return _Start(at, compact, (head.size, head.root) if proven else (0, EMPTY_ROOT))

    def list(self, actor: Actor) -> list[LogView]:
        authorize(actor, Action.CT_READ, None)
        with self._rt.reads() as s:
            return [_view(r, store.findings_count(s, r.id)) for r in store.all_logs(s)]
