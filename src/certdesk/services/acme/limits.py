"""What newOrder must respect besides the names (issue 13, R17): rate limits per account and
per organization, and which of an account's earlier validations an order may reuse
(RFC 8555 §7.1.4 within SC-081's limits).

Both are read from the database inside newOrder's transaction, so every ``serve`` process
sees the same counts; the organization's row is locked first (PostgreSQL), so that two
processes cannot both see room for one more order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certdesk.config import Settings
from certdesk.core.acme_profiles import dv_reuse_days
from certdesk.core.acme_states import ChallengeType, identifier_base
from certdesk.errors import Conflict
from certdesk.services.acme.accounts import AccountView
from certdesk.store import acme_limits
from certdesk.store import acme_persist as persist_store


def _rate_limited(detail: str, retry: timedelta) -> Conflict:
    """``rateLimited`` (RFC 8555 §6.7) with Retry-After: when the limit lets go (§6.6)."""
    seconds = max(1, int(retry.total_seconds()) + 1)
    return Conflict("acme.rate_limited", detail, retry_after=seconds)


def check_limits(
    s: Session, settings: Settings, account: AccountView, new_authz: int, now: datetime
) -> None:
    """Rate limits (issue 13): orders per hour and pending authorizations, per account
    and per organization, counted in the database under the organization's row lock (the
    caller took it with ``store.acme_limits.lock_org``) so that every process sees the same
    counts."""
    hour = timedelta(hours=1)
    counts = acme_limits.rate_counts(s, account.id, account.org_id, now - hour, now)
    for scope, limit in (
        ("account", settings.acme_orders_per_hour_account),
        ("organization", settings.acme_orders_per_hour_org),
    ):
        count, oldest = counts[f"orders/{scope}"]
        if count >= limit:
            retry = (oldest + hour - now) if oldest is not None else hour
            raise _rate_limited(
                f"this {scope} placed {count} orders in the last hour (limit {limit})", retry
            )
    for scope, limit in (
        ("account", settings.acme_pending_authz_account),
        ("organization", settings.acme_pending_authz_org),
    ):
        count, first = counts[f"pending/{scope}"]
        if new_authz and count + new_authz > limit:
            retry = (first - now) if first is not None else hour
            raise _rate_limited(
                f"this {scope} holds {count} pending authorizations (limit {limit});"
                " complete or deactivate some",
                retry,
            )


def reusable(
    s: Session, settings: Settings, account: AccountView, names: list[str], now: datetime
) -> dict[str, tuple[datetime, ChallengeType, datetime]]:
    """Names whose validation by this account is recent enough to reuse: name →
    (the reused authorization's expiry, the method, when it was proved). The period is
    CERTDESK_ACME_AUTHZ_REUSE_DAYS, never more than SC-081 allows today (R17)."""
    days = min(settings.acme_authz_reuse_days, dv_reuse_days(now))
    if days <= 0:
        return {}
    since = now - timedelta(days=days)
    found = {}
    for name in names:
        base, wildcard = identifier_base(name)
        proof = acme_limits.recent_validation(s, account.id, base, wildcard, since)
        if proof is not None:
            validated_at, kind = proof
            expires = validated_at + timedelta(days=days)
            if kind is ChallengeType.DNSPERSIST01:
                # A standing record's proof never outlives its persistUntil (draft §4.1).
                record = persist_store.record(s, account.id, base)
                until = None if record is None else record.persist_until
                if until is not None and until <= now:
                    continue
                expires = min(expires, until or expires)
            found[name] = (expires, kind, validated_at)
    return found
