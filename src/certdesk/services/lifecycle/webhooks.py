"""Outbound webhooks (issue 14): add, list, remove, and the delivery log.

An organization's webhook hears of that organization's events; a cert services webhook (no
organization) hears of every organization's. Cert services manage every webhook; a delegated
administrator its own organization's; auditors read. Another organization's webhook answers
exactly like an unknown one.

The HMAC secret is made here (32 random bytes, base64url), shown once in the answer to ``add``
and kept only sealed with the secret box; certdesk opens it to sign each delivery
(:mod:`certdesk.services.lifecycle.webhook_queue`).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.mail_kinds import WEBHOOK_EVENTS
from certdesk.errors import InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import visible_org
from certdesk.store import webhooks as store
from certdesk.store.models import Webhook, WebhookDelivery

_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class WebhookView:
    id: int
    org: str | None  # None: cert services' (every organization's events)
    url: str
    label: str
    events: tuple[str, ...]  # empty: every event
    created_by: str
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["events"] = list(self.events)
        return out


@dataclass(frozen=True)
class NewWebhook:
    webhook: WebhookView
    secret: str = field(repr=False)  # shown once


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str
    late: bool
    due_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryView:
        return cls(
            row.id,
            row.event_key,
            row.event_type,
            row.status,
            row.attempts,
            row.last_status,
            row.last_error,
            row.late,
            row.due_at,
            row.next_attempt_at,
            row.delivered_at,
            row.created_at,
        )

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def check_url(url: str) -> str:
    """An https URL, or http to this host (a bridge on the same machine); no credentials."""
    text = url.strip()
    if not text or len(text) > 2000 or any(c.isspace() for c in text):
        raise InvalidInput("webhook.url", "give the receiver's address, e.g. https://host/path")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:  # an unclosed "[" (IPv6 literal), a port that is not a number …
        raise InvalidInput("webhook.url", f"{text!r} is not an http(s) address") from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("webhook.url", f"{text!r} is not an http(s) address")
    if parts.username or parts.password:
        raise InvalidInput("webhook.url", "the address may not carry a user name or password")
    if parts.scheme == "http" and not _loopback(host):
        raise InvalidInput(
            "webhook.url", "use https; plain http is allowed only to this host (127.0.0.1)"
        )
    return text


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for e in (x.strip().lower() for x in events):
        if not e:
            continue
        if e not in WEBHOOK_EVENTS:
            raise InvalidInput(
                "webhook.event", f"unknown event {e!r}; choose from " + ", ".join(WEBHOOK_EVENTS)
            )
        if e not in out:
            out.append(e)
    return tuple(out)


class WebhookService:
    def __init__(self, rt: Runtime, audit: AuditService, secretbox: SecretBox) -> None:
        self._rt = rt
        self._audit = audit
        self._box = secretbox

    def add(
        self,
        actor: Actor,
        url: str,
        *,
        org_code: str | None = None,
        events: Sequence[str] = (),
        label: str = "",
    ) -> NewWebhook:
        checked_url = check_url(url)
        if checked_url.startswith("http:") and not actor.is_global:
            # A bridge on certdesk's own host is cert services' to set up; an agency must not
            # make certdesk post to services that listen only on its loopback.
            raise InvalidInput("webhook.url", "use an https address")
        wanted = check_events(events)
        if len(label) > 200:
            raise InvalidInput("webhook.label", "a label is at most 200 characters")
        with self._rt.sessions.begin() as s:
            org_id, code = self._org(s, actor, org_code)
            authorize(actor, Action.WEBHOOK_MANAGE, org_id)
            secret = secrets.token_urlsafe(32)
            row = store.add(
                s,
                Webhook(
                    org_id=org_id,
                    url=checked_url,
                    label=label.strip(),
                    events=",".join(wanted),
                    sealed_secret=self._box.seal(secret.encode()),
                    created_by=actor.name,
                    created_at=self._rt.clock(),
                ),
            )
            self._audit.record(
                s,
                actor,
                "webhook.add",
                "webhook",
                row.id,
                org=code,
                url=checked_url,
                events=list(wanted),
            )
            return NewWebhook(self._view(row, code), secret)

    def listing(self, actor: Actor, org_code: str | None = None) -> list[WebhookView]:
        with self._rt.reads() as s:
            if org_code:
                org_id, _ = self._org(s, actor, org_code)
                authorize(actor, Action.WEBHOOK_READ, org_id, hide=True)
                rows = store.listed(s, org_id, everything=False)
            elif actor.is_global:
                authorize(actor, Action.WEBHOOK_READ, None)
                rows = store.listed(s, None, everything=True)
            else:
                authorize(actor, Action.WEBHOOK_READ, actor.org_id, hide=True)
                rows = store.listed(s, actor.org_id, everything=False)
            codes = store.org_codes(s, sorted({r.org_id for r in rows if r.org_id is not None}))
            return [self._view(r, codes.get(r.org_id) if r.org_id else None) for r in rows]

    def remove(self, actor: Actor, webhook_id: int) -> WebhookView:
        with self._rt.sessions.begin() as s:
            row = self._visible(s, actor, webhook_id)
            authorize(actor, Action.WEBHOOK_MANAGE, row.org_id, hide=True)
            row.removed_at = self._rt.clock()
            self._audit.record(s, actor, "webhook.remove", "webhook", row.id, url=row.url)
            codes = store.org_codes(s, [row.org_id] if row.org_id else [])
            return self._view(row, codes.get(row.org_id) if row.org_id else None)

    def deliveries(
        self, actor: Actor, webhook_id: int, *, status: str | None = None, limit: int = 100
    ) -> list[DeliveryView]:
        if status is not None and status not in store.DELIVERY_STATES:
            raise InvalidInput(
                "webhook.status",
                f"unknown status {status!r}; use one of " + ", ".join(store.DELIVERY_STATES),
            )
        with self._rt.reads() as s:
            row = self._visible(s, actor, webhook_id)
            authorize(actor, Action.WEBHOOK_READ, row.org_id, hide=True)
            return [DeliveryView.of(d) for d in store.deliveries(s, row.id, status, limit)]

    # --- helpers -----------------------------------------------------------------------------

    def _org(self, s: Session, actor: Actor, org_code: str | None) -> tuple[int | None, str | None]:
        """(organization id, code) of ``org_code``; none given: the caller's own
        organization, or cert services' (None) for cert services."""
        if org_code:
            org = visible_org(s, actor, org_code)
            return org.id, org.code
        if actor.is_global or actor.org_id is None:
            return None, None
        codes = store.org_codes(s, [actor.org_id])
        return actor.org_id, codes.get(actor.org_id)

    def _visible(self, s: Session, actor: Actor, webhook_id: int) -> Webhook:
        row = store.get(s, webhook_id)
        if (
            row is None
            or row.removed_at is not None
            or not (actor.is_global or (row.org_id is not None and row.org_id == actor.org_id))
        ):
            raise NotFound("webhook.unknown", f"no webhook {webhook_id}")
        return row

    @staticmethod
    def _view(row: Webhook, code: str | None) -> WebhookView:
        return WebhookView(
            row.id,
            code,
            row.url,
            row.label,
            tuple(e for e in row.events.split(",") if e),
            row.created_by,
            row.created_at,
        )
