"""The one sender loop of the mail queue (R9 notices and R10 account mail alike).

A run holds claimed queue rows, grouped into messages (a notice, a digest of one contact's
notices, or one stored account mail). :meth:`QueueSender.send_all` sends them one message at a
time and records each outcome in a transaction of its own right after the SMTP server
answered, only where the claim is still this worker's (:mod:`certdesk.store.mail_queue`), so the
window in which an accepted message is not yet recorded stays short. The guarantee it keeps
is stated in :mod:`certdesk.services.lifecycle.notices`:

* claims are renewed once half their lease is used; a claim another worker took over (this
  run stalled) is dropped from the run, and that worker sends it;
* a server that cannot be reached, or refuses our login or our sender, stops the run: this
  message is retried with backoff (its attempt counted), the rest waits (not counted); an
  outage of any length never fails a mail for good;
* a refusal of this message alone fails it for good (5xx, or attempts used up; either is
  handed to the kind, which may tell someone) or retries it with backoff (4xx);
* accepted: marked sent; a claim lost while the message was on its way is logged (the
  at-least-once window).

What differs between the kinds is only how rows become a message: subclasses say that.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

import structlog
from sqlalchemy.orm import Session

from certdesk.clock import Clock
from certdesk.core.notices import NoticeState, gave_up_error, refused_error, retry_delay
from certdesk.notify.smtp import Message, Transport, is_permanent, reply_of, server_level
from certdesk.services.lifecycle.smtp_lanes import Lanes
from certdesk.services.runtime import Runtime
from certdesk.store import mail_queue as store
from certdesk.store.models import Notice

log = structlog.get_logger("certdesk.mail")

# How long a claim protects a message that is being sent. It is renewed while a long run is
# still sending, so it only runs out when its worker died or stalled for this long.
CLAIM_LEASE = timedelta(minutes=10)
RETRY_CAP = timedelta(hours=12)
# Accepted messages are marked sent together: every MARK_EVERY messages, or once the oldest
# unmarked one was accepted MARK_WITHIN seconds ago (checked as each send finishes), in one
# transaction. This bounds what a crash can make certdesk send twice (see send_all).
MARK_EVERY = 64
MARK_WITHIN = 0.1


class RunClock:
    """``now`` moved on by the time the run has taken (real time, or a test's clock)."""

    def __init__(self, now: datetime, clock: Clock) -> None:
        self.start = now
        self._clock = clock
        self._started = clock()

    def __call__(self) -> datetime:
        return self.start + max(self._clock() - self._started, timedelta(0))


def retry_later(
    rt: Runtime, ids: Sequence[int], worker_id: str, at: datetime, error: str, *, attempted: bool
) -> None:
    """Put this worker's claimed messages ``ids`` back in the queue, to be tried again after
    the backoff (``attempted``: this attempt failed and counts) or at the next run."""
    if not ids:
        return
    base = timedelta(seconds=rt.settings.notice_retry_seconds)
    with rt.sessions.begin() as s:
        rows = {n.id: n.attempts for n in store.by_ids(s, ids)}
        for notice_id, attempts in rows.items():
            made = attempts + 1 if attempted else attempts
            delay = retry_delay(made, base, RETRY_CAP) if attempted else base
            store.settle(
                s,
                [notice_id],
                worker_id,
                {
                    "status": NoticeState.PENDING,
                    "attempts": made,
                    "next_attempt_at": at + delay,
                    "last_error": error,
                },
            )


class Tally(Protocol):
    """What a run counts (the notices' and the account mail's reports both have these)."""

    sent: int
    retrying: int
    failed: int
    errors: list[str]


class Halt(Exception):
    """Nothing more can be sent this run, through no fault of the server or of one message
    (e.g. this process cannot open what it must send): everything left waits, uncounted."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


E = TypeVar("E")
T = TypeVar("T", bound=Tally)


class QueueSender(Generic[E, T]):
    """Sends groups of claimed entries ``E``, one message per group, and records outcomes."""

    noun = "notice"  # names an entry in the run's errors ("notice 7: …")
    what = "notice"  # and in the log ("notice claims lost")

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    # --- what differs between the kinds of mail ------------------------------------------

    def _id(self, entry: E) -> int:
        raise NotImplementedError

    def _to(self, group: list[E]) -> str:
        raise NotImplementedError

    def _compose(
        self, group: list[E], at: datetime, queue: deque[list[E]], worker_id: str, tally: T
    ) -> Message | None:
        """The message carrying ``group``; None when the group was dealt with instead
        (failed, or put back into ``queue`` in other groups). Raises :class:`Halt`."""
        raise NotImplementedError

    def _outcome(self, group: list[E]) -> dict[int, tuple[str, bool]]:
        """Each entry's (mail subject, late) to record once the server accepted it."""
        raise NotImplementedError

    def _accepted(self, group: list[E], done: list[int], tally: T) -> None:
        """Count what the kind counts beyond ``sent`` for an accepted message."""

    def _unavailable(self, group: list[E], error: str) -> str:
        return f"SMTP server unavailable: {error}"

    # --- the loop --------------------------------------------------------------------------

    def send_all(
        self,
        queue: deque[list[E]],
        worker_id: str,
        current: RunClock,
        transport: Transport,
        tally: T,
    ) -> None:
        """Send every group of ``queue`` (entries this worker claimed in this run).

        Messages are composed here, in order, and handed to up to ``CERTDESK_SMTP_CONNECTIONS``
        connections at once (the transport's clones: with 1, one message at a time). Accepted
        messages are marked sent in batches (``MARK_EVERY`` messages or ``MARK_WITHIN``
        seconds, and whatever is left before the run stops or ends), each batch one
        transaction whose commit is not forced to disk by itself (docs/performance.md). A
        process killed between a message's acceptance and its batch's commit loses those
        marks: once the claims run out, the next pass sends those messages again, regrouped as
        before, so each repeat has the Message-ID of the first copy. A power loss may lose the
        last committed batches in the same way.
        """
        lanes = Lanes(transport, self._rt.settings.smtp_connections)
        try:
            self._send_all(queue, worker_id, current, lanes, tally)
        finally:
            lanes.close()

    def _send_all(
        self,
        queue: deque[list[E]],
        worker_id: str,
        current: RunClock,
        lanes: Lanes,
        tally: T,
    ) -> None:
        marks = _Marks[E]()
        try:
            self._send_queue(queue, worker_id, current, lanes, marks, tally)
        except Exception:
            # A bug or a database error: record what the server accepted before giving up.
            # (A process that dies records nothing more: that is the window send_all states.)
            self._mark(marks, worker_id, tally)
            raise
        self._mark(marks, worker_id, tally)

    def _send_queue(
        self,
        queue: deque[list[E]],
        worker_id: str,
        current: RunClock,
        lanes: Lanes,
        marks: _Marks[E],
        tally: T,
    ) -> None:
        # Every claim of this run was taken after it started: none runs out before this.
        held_until = current.start + CLAIM_LEASE
        in_flight: dict[Future[None], list[E]] = {}

        def settle(done: set[Future[None]]) -> str | None:
            """Outcomes of finished sends; the server's error if it failed."""
            stop: str | None = None
            for future in done:
                group = in_flight.pop(future)
                ids = [self._id(e) for e in group]
                exc = future.exception()
                if exc is None:
                    marks.add(group, current())
                    continue
                error = f"{type(exc).__name__}: {exc}"[:1000]
                if server_level(exc):
                    # The server, not this message: nothing fails for it; all of it waits.
                    retry_later(self._rt, ids, worker_id, current(), error, attempted=True)
                    tally.retrying += len(ids)
                    if stop is None:
                        tally.errors.append(self._unavailable(group, error))
                        stop = error
                    continue
                assert isinstance(exc, Exception)
                self._refused(group, ids, worker_id, current(), exc, error, tally)
            if marks.due():
                self._mark(marks, worker_id, tally)
            return stop

        def drain() -> str | None:
            stop: str | None = None
            while in_flight:
                got = settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
                stop = stop or got
            return stop

        while queue:
            group = queue.popleft()
            if current() + CLAIM_LEASE / 2 > held_until:
                self._mark(marks, worker_id, tally)  # marked rows need no renewal
                held_until = self._renew(queue, group, worker_id, current)
            if not group:
                continue  # every claim in it was lost to another worker, which sends them
            ids = [self._id(e) for e in group]
            try:
                message = self._compose(group, current(), queue, worker_id, tally)
            except Halt as halt:
                drain()
                rest = ids + self._ids(queue)
                retry_later(self._rt, rest, worker_id, current(), halt.detail, attempted=False)
                tally.retrying += len(rest)
                tally.errors.append(halt.detail)
                return
            if message is None:
                continue
            # At most one message per connection on its way; settle what finished.
            while len(in_flight) >= lanes.size:
                error = settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
                if error is not None:
                    queue.appendleft(group)
                    self._stop(queue, worker_id, current, drain, error, tally)
                    return
            in_flight[lanes.submit(message)] = group
            if lanes.size == 1:
                error = settle(wait(in_flight).done)
                if error is not None:
                    self._stop(queue, worker_id, current, drain, error, tally)
                    return
        error = drain()
        if error is not None:
            self._stop(queue, worker_id, current, drain, error, tally)

    def _stop(
        self,
        queue: deque[list[E]],
        worker_id: str,
        current: RunClock,
        drain: Callable[[], object],
        error: str,
        tally: T,
    ) -> None:
        """The server failed: what is on its way finishes, everything left waits uncounted."""
        drain()
        rest = self._ids(queue)
        retry_later(
            self._rt, rest, worker_id, current(), f"not attempted: {error}", attempted=False
        )
        tally.retrying += len(rest)

    # --- outcomes: each written only where this worker still holds the claim ----------------

    def _ids(self, queue: deque[list[E]]) -> list[int]:
        return [self._id(e) for g in queue for e in g]

    def _settle(self, ids: Sequence[int], worker_id: str, values: dict[str, object]) -> None:
        with self._rt.sessions.begin() as s:
            store.settle(s, ids, worker_id, values)

    def _renew(
        self, queue: deque[list[E]], group: list[E], worker_id: str, current: RunClock
    ) -> datetime:
        until = current() + CLAIM_LEASE
        wanted = [self._id(e) for e in group] + self._ids(queue)
        with self._rt.sessions.begin() as s:
            held = store.renew(s, wanted, worker_id, until)
        lost = set(wanted) - held
        if lost:
            # Another worker took over claims that ran out (this run stalled): it sends them.
            log.warning(f"{self.what} claims lost", worker=worker_id, ids=sorted(lost))
            for g in [group, *queue]:
                g[:] = [e for e in g if self._id(e) in held]
        return until

    def _mark(self, marks: _Marks[E], worker_id: str, tally: T) -> None:
        """Record the accepted messages not yet recorded (exactly once: only where the claim
        is still held), in one transaction not forced to disk by itself (see send_all)."""
        accepted = marks.take()
        if not accepted:
            return
        outcome: dict[int, tuple[str, bool, datetime]] = {}
        for group, at in accepted:
            for notice_id, (subject, late) in self._outcome(group).items():
                outcome[notice_id] = (subject, late, at)
        with self._rt.transaction(flush=False) as conn:
            done = set(store.mark_sent(conn, worker_id, outcome))
        for lost in sorted(set(outcome) - done):
            # The claim ran out while the message was on its way: another worker may send it
            # again (the at-least-once window), with the same Message-ID.
            log.warning(f"{self.what} sent after its claim ran out", id=lost)
            tally.errors.append(f"{self.noun} {lost}: claim lost while sending")
        for group, _ in accepted:
            mine = [self._id(e) for e in group if self._id(e) in done]
            tally.sent += len(mine)
            self._accepted(group, mine, tally)

    def _refused(
        self,
        group: list[E],
        ids: list[int],
        worker_id: str,
        at: datetime,
        exc: Exception,
        error: str,
        tally: T,
    ) -> None:
        """The server refused this message: for good (5xx, or attempts used up) or for now."""
        with self._rt.reads() as s:
            attempts = max(n.attempts for n in store.by_ids(s, ids)) + 1
        permanent = is_permanent(exc)
        if permanent or attempts >= self._rt.settings.notice_max_attempts:
            # A permanent refusal (RFC 5321 §4.2.1: 5yz) fails the message at once, and a
            # temporary one (4yz) once the attempts are used up (R9), with the server's own
            # words; either way the kind may tell someone (_undeliverable), in the same
            # transaction, so that they are told exactly when the failure is recorded: a
            # process killed before the commit leaves the claim to run out and the next
            # attempt decides again; after it, the failure and the telling are both recorded.
            said = reply_of(exc)
            why = refused_error(said) if permanent else gave_up_error(attempts, said)
            with self._rt.sessions.begin() as s:
                done = store.settle(
                    s,
                    ids,
                    worker_id,
                    {
                        "status": NoticeState.FAILED,
                        "attempts": Notice.attempts + 1,
                        "last_error": why[:1000],
                    },
                )
                if done:
                    self._undeliverable(s, group, done, at, why[:1000])
            tally.failed += len(ids)
        else:
            retry_later(self._rt, ids, worker_id, at, error, attempted=True)
            tally.retrying += len(ids)
        tally.errors.append(f"{self._to(group)}: {error}")

    def _undeliverable(
        self, s: Session, group: list[E], failed: list[int], at: datetime, why: str
    ) -> None:
        """The message carrying ``failed`` failed for good, ``why`` (its ``last_error``):
        refused (5xx) or its attempts used up, in the transaction that records it. The
        notices tell cert services; other kinds tell nobody."""


class _Marks(Generic[E]):
    """Accepted messages (their groups and when each was accepted) not yet marked sent."""

    def __init__(self) -> None:
        self._groups: list[tuple[list[E], datetime]] = []
        self._since = 0.0

    def add(self, group: list[E], at: datetime) -> None:
        if not self._groups:
            self._since = time.monotonic()
        self._groups.append((group, at))

    def due(self) -> bool:
        return bool(self._groups) and (
            len(self._groups) >= MARK_EVERY or time.monotonic() - self._since >= MARK_WITHIN
        )

    def take(self) -> list[tuple[list[E], datetime]]:
        taken, self._groups = self._groups, []
        return taken
