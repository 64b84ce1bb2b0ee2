"""Which process holds a ``signing`` intent, and whether that process is still alive.

An intent records ``host:pid:start`` where ``start`` is the process start time in clock ticks
since boot (``/proc/<pid>/stat`` field 22), so a recycled pid is not mistaken for the signer.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path


def _start_ticks(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # field 3, state: a zombie has exited, its parent not yet reaped
        return None
    return fields[19]  # field 22 overall


def current() -> str:
    """This process's identity, as recorded on the intents it signs."""
    return _identity(os.getpid())


# Host name and start time do not change while a process runs, so the identity is read once
# per process rather than from /proc on every issuance. It is keyed by pid: a forked child
# computes its own instead of inheriting its parent's.
@functools.lru_cache(maxsize=1)
def _identity(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"


def is_dead(signer: str) -> bool:
    """True only when ``signer`` was a process on this host that no longer runs."""
    try:
        host, pid_text, start = signer.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or start == "?":
        return False  # another machine's process: only the lease can tell
    return _start_ticks(pid) != start
