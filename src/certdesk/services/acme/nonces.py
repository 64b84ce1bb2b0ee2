"""Replay nonces (RFC 8555 §6.5), kept in the database so that every ``serve`` process
accepts those the others handed out; each is good once, until it expires."""

from __future__ import annotations

import secrets
from datetime import timedelta

from certdesk.core.acme_states import b64url
from certdesk.services.runtime import Runtime
from certdesk.store import acme_server as acme_store

# One new nonce in this many also sweeps the expired ones away (a cheap indexed DELETE).
PURGE_EVERY = 256


class Nonces:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def new(self) -> str:
        # 128 bits: unguessable, and short in every response header.
        value = b64url(secrets.token_bytes(16))
        now = self._rt.clock()
        # Not forced to disk by itself (Runtime.transaction): a nonce lost to a power cut is
        # answered with badNonce and the client retries with a fresh one.
        with self._rt.transaction(flush=False) as conn:
            acme_store.add_nonce(
                conn, value, now + timedelta(seconds=self._rt.settings.acme_nonce_seconds)
            )
            if secrets.randbelow(PURGE_EVERY) == 0:
                acme_store.purge_nonces(conn, now)
        return value

    def use(self, value: str) -> bool:
        """True once for a nonce this installation handed out and that has not expired."""
        if not value or len(value) > 64:
            return False
        # Not forced to disk either: the request's own change commits after this one and
        # makes it durable with it; a request that changes nothing may be replayed harmlessly.
        with self._rt.transaction(flush=False) as conn:
            return acme_store.use_nonce(conn, value, self._rt.clock())
