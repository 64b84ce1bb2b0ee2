"""Up to ``CERTDESK_SMTP_CONNECTIONS`` SMTP connections for the mail queue's sender loop."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from certdesk.notify.smtp import Message, Transport


class Lanes:
    """Up to ``size`` SMTP connections: the run's transport and its clones, each used by one
    thread at a time (a transport without ``clone`` is the only lane)."""

    def __init__(self, transport: Transport, size: int) -> None:
        clone = getattr(transport, "clone", None)
        self.size = max(1, size) if clone is not None else 1
        self._free: deque[Transport] = deque([transport])
        self._made: list[Transport] = []
        self._clone = clone
        self._pool = (
            ThreadPoolExecutor(self.size, thread_name_prefix="smtp") if self.size > 1 else None
        )

    def submit(self, message: Message) -> Future[None]:
        if self._pool is None:
            future: Future[None] = Future()
            try:
                self._free[0].send(message)
                future.set_result(None)
            except Exception as exc:
                future.set_exception(exc)
            return future
        if not self._free:
            assert self._clone is not None
            made: Transport = self._clone()
            self._made.append(made)
            self._free.append(made)
        lane = self._free.popleft()

        def send() -> None:
            try:
                lane.send(message)
            finally:
                self._free.append(lane)

        return self._pool.submit(send)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for made in self._made:  # the run's own transport is closed by its owner
            made.close()
