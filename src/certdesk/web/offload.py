"""Where a request's blocking work runs: on the event loop itself, or in a worker thread.

A worker thread's hop and back costs CPU (0.4-0.5 ms a request on a 2-core machine: the
thread's wake-ups and two threads taking the GIL from each other) and buys no parallelism for
work that holds the GIL; it is worth paying only where the work may wait on something far
and slow, a network database or a vendor CA (``Runtime.waits_are_local`` tells, and
docs/performance.md has the figures). Used by the API's lean issuing route (web/lean.py) and
the ACME front end (acme/frontend.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from anyio import CapacityLimiter, to_thread

T = TypeVar("T")


async def run_blocking(
    fn: Callable[[], T], *, on_loop: bool, limiter: CapacityLimiter | None = None
) -> T:
    """``fn()`` on the event loop when ``on_loop``, else in a worker thread of ``limiter``
    (None: the process's shared threads)."""
    if on_loop:
        # What else is ready (a health probe, say) goes first, rather than behind every
        # request already queued on this loop.
        await asyncio.sleep(0)
        return fn()
    return await to_thread.run_sync(fn, limiter=limiter)
