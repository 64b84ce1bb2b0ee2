"""The data directory is private: the directory and everything under it are the service
account's alone (nothing for group or others: 0700 directories, 0600 files), whatever the
umask.

It holds the SQLite database (argon2 hashes, sealed secrets, the audit log), the encrypted CA
keys and the secrets directory. A file another local user can read is a finding even when
its content is encrypted, so every process checks at start and repairs what it finds,
saying so; what it cannot repair (a file of another owner) stops it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certdesk.errors import Unavailable

DIR_MODE = 0o700
# Every bit of group and others: this process's umask, and what _tighten takes away.
PRIVATE_UMASK = 0o077


def make_private(*roots: Path) -> list[str]:
    """Create ``roots`` as private directories and tighten everything below them.

    Also sets this process's umask to 077, so that files made later (SQLite's ``-wal`` and
    ``-shm``, lock files, CRLs written by hand) are private from the moment they exist.
    Returns one line per repaired path, for a warning.
    """
    os.umask(PRIVATE_UMASK)
    repaired: list[str] = []
    for root in dict.fromkeys(roots):  # the secrets directory may lie inside the data dir
        root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        repaired += _tighten(root)
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            for name in (*dirnames, *filenames):
                repaired += _tighten(here / name)
    return repaired


def _tighten(path: Path) -> list[str]:
    """Take away what group and others may do with ``path``; the owner's own bits stay (an
    executable file the operator keeps there stays executable for them)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return []  # removed meanwhile (a SQLite -shm at checkpoint)
    if stat.S_ISLNK(st.st_mode):
        return []  # the target is checked where it lives, if it lives here
    current = stat.S_IMODE(st.st_mode)
    private = current & ~PRIVATE_UMASK
    if private == current:
        return []
    try:
        os.chmod(path, private)
    except PermissionError:
        raise Unavailable(
            "datadir.not_private",
            f"{path} is readable by others (mode {current:04o}) and cannot be made private:"
            " run certdesk as the user that owns its data directory",
        ) from None
    return [f"{path}: {current:04o} -> {private:04o}"]
