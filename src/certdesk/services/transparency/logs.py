"""The CT logs certdesk follows: added by cert services (audited), listed with how far each
has been read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.ct_heads import load_log_key
from certdesk.core.ct_merkle import EMPTY_ROOT
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.store import ct as store
from certdesk.store.models import CtLog

__all__ = ["CtLogs", "LogView"]

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class LogView:
    name: str
    url: str
    tiled: bool
    log_id: str
    active: bool
    position: int  # entries read and judged
    verified_size: int  # entries proven against a signed tree head
    head_size: int | None
    head_at: datetime | None
    checked_at: datetime | None
    last_error: str
    findings: int
    created_at: datetime

    @property
    def behind(self) -> int | None:
        return None if self.head_size is None else max(self.head_size - self.position, 0)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "kind": "static-ct" if self.tiled else "rfc6962"}


def _view(row: CtLog, findings: int) -> LogView:
    return LogView(
        row.name,
        row.url,
        row.tiled,
        row.log_id,
        row.active,
        row.position,
        row.verified_size,
        row.head_size,
        row.head_at,
        row.checked_at,
        row.last_error,
        findings,
        row.created_at,
    )


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("ct.bad_url", f"{url!r} is not an http(s) URL of a log")
    if parts.query or parts.fragment or len(url) > 500:
        raise InvalidInput("ct.bad_url", f"{url!r}: a log URL has no query or fragment")
    return url.rstrip("/")


class CtLogs:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def add(self, actor: Actor, name: str, url: str, public_key: bytes, *, tiled: bool) -> LogView:
        """Follow a log from its first entry: RFC 6962 at ``url`` (before ``/ct/v1/``) or
        static-CT (``tiled``: the monitoring prefix)."""
        authorize(actor, Action.CT_MANAGE, None)
        name = name.strip().lower()
        if not NAME.match(name):
            raise InvalidInput(
                "ct.bad_name", f"{name!r} is not a log name (letters, digits, '.', '_', '-')"
            )
        url = check_url(url)
        key = load_log_key(public_key)
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            if store.log_by_name(s, name) is not None:
                raise Conflict("ct.log_exists", f"a log named {name!r} is followed already")
            row = store.add_log(
                s,
                {
                    "name": name,
                    "url": url,
                    "tiled": tiled,
                    "public_key_der": key.der,
                    "log_id": key.log_id.hex(),
                    "active": True,
                    "position": 0,
                    "compact_range": [],
                    "verified_size": 0,
                    "verified_root": EMPTY_ROOT.hex(),
                    "last_error": "",
                    "created_by": actor.name,
                    "created_at": now,
                },
            )
            self._audit.record(
                s,
                actor,
                "ct.log_add",
                "ct_log",
                name,
                url=url,
                kind="static-ct" if tiled else "rfc6962",
                log_id=key.log_id.hex(),
            )
            return _view(row, 0)

    def list(self, actor: Actor) -> list[LogView]:
        authorize(actor, Action.CT_READ, None)
        with self._rt.reads() as s:
            return [_view(r, store.findings_count(s, r.id)) for r in store.all_logs(s)]
