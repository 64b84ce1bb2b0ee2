"""Generated subscriber keys at rest, and their crypto-shredding (R12).

R12: a key certdesk generates "never leaves encrypted storage except in a password-protected
PKCS#12 download", and that download happens once. Making the second half true takes more
than a NULL: databases keep deleted bytes around (free pages, the SQLite WAL, PostgreSQL dead
tuples, backups). So each key is sealed under a data key of its own, the data key wrapped by
the secret box (``core/envelope.py``), and both are kept in one ``data_keys`` row
(``store/data_keys.py``). The download deletes that row in the transaction that records it;
afterwards no copy of the sealed key, wherever it lingers, can be opened — not even with
``secretbox.key`` — because its data key exists nowhere. :func:`scrub`, run after that commit,
also removes the bytes themselves where the database engine lets us (secure_delete and a
truncating checkpoint on SQLite, ``VACUUM FULL`` on PostgreSQL).

Every function but :func:`scrub` works in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from certdesk.core.envelope import open_subscriber_key, seal_subscriber_key
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import data_keys

log = structlog.get_logger("certdesk.generated_keys")


def keep(s: Session, box: SecretBox, submittal_id: int, key_der: bytes, now: datetime) -> None:
    """Store ``key_der`` as the submittal's generated key under a fresh data key; a key it
    held before is destroyed with its data key (scrub after the commit)."""
    wrapped, sealed = seal_subscriber_key(box, submittal_id, key_der)
    data_keys.put(s, submittal_id, wrapped, sealed, now)


def held(s: Session, submittal_id: int) -> bool:
    """Whether the submittal holds a generated key that was not downloaded yet."""
    return data_keys.held(s, submittal_id)


def open_key(s: Session, box: SecretBox, submittal_id: int) -> bytes | None:
    """The submittal's generated key as PKCS#8 DER, or None when it holds none."""
    row = data_keys.of_submittal(s, submittal_id)
    if row is None:
        return None
    return open_subscriber_key(box, submittal_id, row.wrapped_data_key, row.sealed_key)


def shred(s: Session, submittal_id: int) -> bool:
    """Destroy the submittal's generated key and its data key; whether it held one."""
    return data_keys.destroy(s, submittal_id)


def scrub(rt: Runtime) -> None:
    """After a commit that shredded a key: remove the deleted record's bytes from the
    database files (store/data_keys.py). Never raises: the key is already unreadable, the
    caller's answer (a PKCS#12 that exists nowhere else) must not be lost to a busy
    database, and the next scrub finishes what this one could not."""
    try:
        done = data_keys.scrub(rt.engine)
    except Exception:
        log.warning("could not scrub destroyed data keys; the next scrub will", exc_info=True)
        return
    if not done.complete:
        log.warning("the SQLite WAL is still in use; destroyed data keys stay in it for now")
