"""Replay nonces (RFC 8555 §6.5), kept in the database so that every ``serve`` process
accepts those the others handed out; each is good once, until it expires.

Every ACME answer carries a new nonce, so they are stored a batch at a time (one transaction
for ``BATCH``) and handed out from this process's batch while each still has nearly all of
its lifetime ahead (``FRESH``); a batch left when the process stops simply expires."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection

from certdesk.core.acme_states import b64url
from certdesk.services.acme.accounts import AccountView, current_in
from certdesk.services.runtime import Runtime
from certdesk.store import acme_compiled
from certdesk.store import acme_server as acme_store

T = TypeVar("T")

BATCH = 16
# A stored nonce is handed out only while at least this share of its lifetime is left.
FRESH = 0.9
# One batch in this many also sweeps the expired nonces away (a cheap indexed DELETE).
PURGE_EVERY = 16


class Nonces:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._ready: deque[tuple[str, datetime]] = deque()
        self._lock = threading.Lock()

    def ready(self) -> str | None:
        """A stored nonce of this process's batch, without touching the database; None when
        the batch is used up (then ``new``)."""
        lifetime = timedelta(seconds=self._rt.settings.acme_nonce_seconds)
        now = self._rt.clock()
        with self._lock:
            while self._ready:
                value, expires_at = self._ready.popleft()
                if expires_at - now >= lifetime * FRESH:
                    return value
        return None

    def new(self) -> str:
        if (value := self.ready()) is not None:
            return value
        # 128 bits each: unguessable, and short in every response header.
        values = [b64url(secrets.token_bytes(16)) for _ in range(BATCH)]
        now = self._rt.clock()
        expires_at = now + timedelta(seconds=self._rt.settings.acme_nonce_seconds)
        # Not forced to disk by itself (Runtime.transaction): a nonce lost to a power cut is
        # answered with badNonce and the client retries with a fresh one.
        with self._rt.transaction(flush=False) as conn:
            acme_store.add_nonces(conn, values, expires_at)
            if secrets.randbelow(PURGE_EVERY) == 0:
                acme_store.purge_nonces(conn, now)
        with self._lock:
            self._ready.extend((v, expires_at) for v in values[1:])
        return values[0]

    def use(self, value: str) -> bool:
        """True once for a nonce this installation handed out and that has not expired."""
        if not value or len(value) > 64:
            return False
        used, _ = self.use_reading(value, lambda _conn: None)
        return used

    def use_signed(self, value: str, account_id: int, thumbprint: str) -> tuple[bool, AccountView]:
        """A request whose signature holds under the account key of ``thumbprint``: its account
        read and its nonce used in one transaction instead of two (acme/signed.py). Raises
        NotFound or KeyChanged (rolled back, the nonce unused) when there is no such account
        or its key is no longer that one."""
        return self.use_reading(value, lambda conn: current_in(conn, account_id, thumbprint))

    def use_reading(self, value: str, read: Callable[[Connection], T]) -> tuple[bool, T]:
        """``read`` and then the use of ``value``, in one transaction; when ``read`` raises,
        the transaction is rolled back and the nonce stays unused."""
        # Not forced to disk either: the request's own change commits after this one and
        # makes it durable with it; a request that changes nothing may be replayed harmlessly.
        with self._rt.transaction(flush=False) as conn:
            found = read(conn)
            if not value or len(value) > 64:
                return False, found
            return acme_compiled.use_nonce(conn, value, self._rt.clock()), found
