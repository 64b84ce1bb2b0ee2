"""Following CT logs: ``certdesk ct watch`` and the worker's ``ct`` job (R18).

One pass over a log, in order:

1. Ask the log for its signed head (``get-sth`` or the checkpoint) and verify the signature
   with the configured key; a bad signature refuses the head and nothing else happens.
2. The head may not be smaller than the one the entries were proven against, nor a different
   tree of the same size; where the log serves proofs (RFC 6962), its consistency proof from
   the proven head to this one must verify (RFC 9162 §2.1.4.2).
3. Read the entries from the saved position in batches (``get-entries`` pages or data tiles,
   a few requests per thousand entries), append their leaf hashes to the compact range, and
   judge them (:class:`certdesk.core.ct_findings.Watchlist`). Entries for state names that
   match no inventory certificate (by SHA-256; a precertificate by issuer and serial) are
   findings.
4. Each batch is one transaction: its findings, their notices to cert services and to the
   organization's contacts (queued in the mail queue, :mod:`certdesk.store.mail_queue`), and the
   new position. A crash loses at most the batch in hand, which the next pass reads again;
   the finding's unique key makes a re-read batch add nothing twice.
5. The batch that reaches the head is recorded only if the compact range's root equals the
   head's root: every entry read is then proven to be what the log signed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from cryptography import x509

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.ct_entries import EntryType, LogEntry
from certdesk.core.ct_findings import UNASSIGNED, Candidate, Watchlist
from certdesk.core.ct_heads import TreeHead, load_log_key
from certdesk.core.ct_merkle import CompactRange, verify_consistency
from certdesk.core.grants import Grant, GrantKind
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.runtime import Runtime
from certdesk.services.transparency.finding_mail import queue_finding_mail
from certdesk.services.transparency.log_client import LogReader, reader_for
from certdesk.store import ct as store
from certdesk.store.models import CtLog

log = structlog.get_logger("certdesk.ct")

BATCH = 1000  # entries judged and recorded per transaction


@dataclass
class LogPass:
    """What one pass over one log did."""

    log: str
    head_size: int | None = None
    read: int = 0  # entries read and judged
    state_names: int = 0  # of which name a state name
    known: int = 0  # of which are certdesk's own
    findings: int = 0  # new findings recorded
    position: int = 0
    verified_size: int = 0
    error: str = ""
    code: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class WatchReport:
    logs: list[LogPass] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return sum(p.read for p in self.logs)

    @property
    def findings(self) -> int:
        return sum(p.findings for p in self.logs)

    @property
    def errors(self) -> list[str]:
        return [f"{p.log}: {p.error}" for p in self.logs if p.error]

    def as_dict(self) -> dict[str, Any]:
        return {
            "logs": [p.as_dict() for p in self.logs],
            "read": self.read,
            "findings": self.findings,
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
        }


@dataclass(frozen=True)
class _Saved:
    id: int
    name: str
    url: str
    tiled: bool
    key_der: bytes
    position: int
    compact: CompactRange
    verified_size: int
    verified_root: bytes

    @classmethod
    def of(cls, row: CtLog) -> _Saved:
        return cls(
            row.id,
            row.name,
            row.url,
            row.tiled,
            row.public_key_der,
            row.position,
            CompactRange.from_hex(row.position, row.compact_range),
            row.verified_size,
            bytes.fromhex(row.verified_root),
        )


class CtWatch:
    """Reads the logs followed and records what they show (see the module text)."""

    def __init__(self, rt: Runtime, *, client: httpx.Client | None = None) -> None:
        self._rt = rt
        self._client = client

    def run(
        self,
        actor: Actor,
        *,
        only: str | None = None,
        max_entries: int | None = None,
        batch: int = BATCH,
        stop: Callable[[], bool] = lambda: False,
    ) -> WatchReport:
        """One pass over every active log (or the one named ``only``), up to ``max_entries``
        entries per log (None: up to its head)."""
        authorize(actor, Action.CT_MANAGE, None)
        if batch < 1:
            raise InvalidInput("ct.batch", "a batch holds at least one entry")
        started = time.perf_counter()
        with self._rt.reads() as s:
            rows = store.all_logs(s, active_only=only is None)
            if only is not None:
                rows = [r for r in rows if r.name == only.strip().lower()]
                if not rows:
                    raise InvalidInput("ct.unknown_log", f"no log named {only!r} is followed")
            saved = [_Saved.of(r) for r in rows]
            watchlist = self._watchlist(store.all_grants(s))
        report = WatchReport()
        client = self._client or httpx.Client(headers={"User-Agent": "certdesk-ct-monitor"})
        try:
            for state in saved:
                if stop():
                    break
                report.logs.append(
                    self._watch_log(state, watchlist, client, max_entries, batch, stop)
                )
        finally:
            if self._client is None:
                client.close()
        report.seconds = time.perf_counter() - started
        if report.read or report.errors:
            log.info("ct pass", **report.as_dict())
        return report

    def _watchlist(self, grants: Sequence[tuple[int, str, str]]) -> Watchlist:
        owned = []
        for org_id, kind, name in grants:
            try:
                owned.append((org_id, Grant(GrantKind(kind), name)))
            except (CertdeskError, ValueError):
                continue  # a grant stored by an older release in another shape covers nothing
        return Watchlist(self._rt.settings.allowed_suffixes, owned)

    def _watch_log(
        self,
        state: _Saved,
        watchlist: Watchlist,
        client: httpx.Client,
        max_entries: int | None,
        batch: int,
        stop: Callable[[], bool],
    ) -> LogPass:
        out = LogPass(state.name, position=state.position, verified_size=state.verified_size)
        try:
            reader = reader_for(
                state.name, state.url, load_log_key(state.key_der), tiled=state.tiled,
                client=client,
            )  # fmt: skip
            head = reader.head()
            out.head_size = head.size
            self._check_head(state, reader, head)
            self._record(state.id, head=head)
            self._read(state, reader, head, watchlist, max_entries, batch, stop, out)
        except CertdeskError as exc:
            out.error, out.code = exc.detail, exc.code
            log.warning("ct log refused", log=state.name, code=exc.code, detail=exc.detail)
            self._record(state.id, head=None, error=exc.detail)
        return out

    @staticmethod
    def _check_head(state: _Saved, reader: LogReader, head: TreeHead) -> None:
        if head.size < max(state.verified_size, state.position):
            raise InvalidInput(
                "ct.inconsistent",
                f"the log's tree went from {max(state.verified_size, state.position)} entries "
                f"back to {head.size}",
            )
        if state.verified_size == 0 or head.size == state.verified_size:
            verify_consistency(state.verified_size, head.size, state.verified_root, head.root, [])
            return
        proof = reader.consistency(state.verified_size, head.size)
        if proof is not None:
            verify_consistency(
                state.verified_size, head.size, state.verified_root, head.root, proof
            )

    def _record(self, log_id: int, *, head: TreeHead | None, error: str = "") -> None:
        at = self._rt.clock()
        seen = None
        if head is not None:
            seen = (head.size, datetime.fromtimestamp(head.timestamp_ms / 1000, UTC))
        with self._rt.sessions.begin() as s:
            store.record_check(s, log_id, at, head=seen, error=error)

    def _read(
        self,
        state: _Saved,
        reader: LogReader,
        head: TreeHead,
        watchlist: Watchlist,
        max_entries: int | None,
        batch: int,
        stop: Callable[[], bool],
        out: LogPass,
    ) -> None:
        position, compact = state.position, state.compact.copy()
        target = head.size if max_entries is None else min(head.size, position + max_entries)
        while position < target and not stop():
            end = min(target, position + batch)
            entries = self._fetch(reader, position, end, head.size)
            following = compact.copy()
            following.extend(e.leaf_hash for e in entries)
            verified = None
            if end == head.size:
                if following.root() != head.root:
                    raise InvalidInput(
                        "ct.inconsistent",
                        f"the log's entries do not hash to its signed root of {head.size} entries",
                    )
                verified = (head.size, head.root.hex())
            candidates = [c for e in entries if (c := watchlist.candidate(e)) is not None]
            step = _Batch(position, store.Position(end, following.to_hex(), verified), candidates)
            try:
                new = self._commit(state.id, step, watchlist, out)
            except _Lost:
                log.info("ct batch recorded by another worker", log=state.name, start=position)
                return
            out.read += len(entries)
            out.findings += new
            position, compact = end, following
            out.position = position
            if verified is not None:
                out.verified_size = head.size

    @staticmethod
    def _fetch(reader: LogReader, start: int, end: int, head_size: int) -> list[LogEntry]:
        """Entries ``[start, end)``, in as many requests as the log's pages need."""
        entries: list[LogEntry] = []
        at = start
        while at < end:
            got = reader.entries(at, end, head_size)
            entries.extend(got)
            at += len(got)
        return entries

    def _commit(self, log_id: int, step: _Batch, watchlist: Watchlist, out: LogPass) -> int:
        """One transaction: the batch's findings, their mail, the log's new position."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            serials = [c.serial for c in step.candidates]
            unknown = _unknown(step.candidates, store.known_certificates(s, serials))
            rows = [
                _finding_row(c, scope, names, log_id, now)
                for c in unknown
                for scope, names in watchlist.scopes(c.names).items()
            ]
            ids = store.advance(s, log_id, step.start, step.to, rows)
            if ids is None:
                raise _Lost  # rolls this transaction back: another worker recorded the batch
            if ids:
                queue_finding_mail(s, self._rt, store.findings_by_ids(s, ids), now)
        out.state_names += len(step.candidates)
        out.known += len(step.candidates) - len(unknown)
        return len(ids)


@dataclass(frozen=True)
class _Batch:
    start: int
    to: store.Position
    candidates: list[Candidate]


class _Lost(Exception):
    """The log's position moved under this batch: another worker recorded it."""


def _unknown(candidates: list[Candidate], known_ders: list[bytes]) -> list[Candidate]:
    """The candidates that are not certdesk's: a certificate by its SHA-256, a
    precertificate by issuer and serial (its final certificate's)."""
    if not known_ders:
        return candidates
    digests = {hashlib.sha256(d).hexdigest() for d in known_ders}
    pairs = set()
    for der in known_ders:
        cert = x509.load_der_x509_certificate(der)
        pairs.add((cert.issuer.public_bytes(), format(cert.serial_number, "x")))
    out = []
    for c in candidates:
        if c.entry.entry_type is EntryType.X509:
            mine = c.sha256 in digests
        else:
            mine = (c.issuer_der, c.serial) in pairs
        if not mine:
            out.append(c)
    return out


def _finding_row(
    c: Candidate, scope: int, names: list[str], log_id: int, now: datetime
) -> dict[str, Any]:
    return {
        "cert_key": c.key,
        "scope": scope,
        "org_id": None if scope == UNASSIGNED else scope,
        "names": ",".join(names),
        "precert": c.precert,
        "issuer": c.issuer[:2000],
        "serial": c.serial,
        "sha256": c.sha256,
        "not_before": c.not_before,
        "not_after": c.not_after,
        "log_id": log_id,
        "entry_index": c.entry.index,
        "logged_at": datetime.fromtimestamp(c.entry.timestamp_ms / 1000, UTC),
        "found_at": now,
    }
