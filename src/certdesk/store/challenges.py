"""http-01 answers (RFC 8555 §8.3) between the process that orders and the one that serves.

Core statements on a connection: the lookup answers unauthenticated requests from a vendor's
validation servers, and every write is a single statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from certdesk.store.models import AcmeChallenge

_CHALLENGES = cast("Table", AcmeChallenge.__table__)
TOKEN_MAX = 128  # the column's width; a longer token is never stored, so never found
KEY_AUTHORIZATION_MAX = 300

_LOOKUP = select(_CHALLENGES.c.key_authorization).where(
    _CHALLENGES.c.token == bindparam("token"),
    _CHALLENGES.c.expires_at > bindparam("now"),
)


def put(
    conn: Connection, token: str, key_authorization: str, *, expires_at: datetime, now: datetime
) -> None:
    """Store the answer for ``token``, replacing one stored before (a resumed order presents
    its answers again, with a new expiry)."""
    values = {
        "token": token,
        "key_authorization": key_authorization,
        "expires_at": expires_at,
        "created_at": now,
    }
    changed = {"key_authorization": key_authorization, "expires_at": expires_at}
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(_CHALLENGES).values(values)
        conn.execute(pg.on_conflict_do_update(index_elements=["token"], set_=changed))
    else:
        lite = sqlite.insert(_CHALLENGES).values(values)
        conn.execute(lite.on_conflict_do_update(index_elements=["token"], set_=changed))


def remove(conn: Connection, token: str) -> None:
    conn.execute(delete(_CHALLENGES).where(_CHALLENGES.c.token == token))


def answer(conn: Connection, token: str, now: datetime) -> str | None:
    """The key authorization for ``token`` unless it is unknown or expired at ``now``."""
    if len(token) > TOKEN_MAX:
        return None
    found: str | None = conn.execute(_LOOKUP, {"token": token, "now": now}).scalar()
    return found


def purge_expired(conn: Connection, now: datetime) -> int:
    """Delete every answer that expired at or before ``now``; how many went."""
    result = conn.execute(delete(_CHALLENGES).where(_CHALLENGES.c.expires_at <= now))
    return int(result.rowcount or 0)
