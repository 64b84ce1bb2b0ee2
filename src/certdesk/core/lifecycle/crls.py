"""When a CRL is regenerated: from its half-life on (RFC 5280 §5.1.2.5)."""

from __future__ import annotations

from datetime import datetime

from certdesk.core.lifecycle.instants import require_aware


def crl_refresh_at(this_update: datetime, next_update: datetime) -> datetime:
    """When a CRL should be regenerated: half-way between ``thisUpdate`` and ``nextUpdate``.

    Refreshing at half-life leaves the other half as slack for a worker that is down or
    slow, so relying parties never see a CRL past its ``nextUpdate`` (RFC 5280 §5.1.2.5).
    A CRL whose ``nextUpdate`` is not after its ``thisUpdate`` is stale at once: its refresh
    moment is its ``thisUpdate``.
    """
    start = require_aware(this_update, "this_update")
    end = require_aware(next_update, "next_update")
    if end <= start:
        return start
    return start + (end - start) / 2


def crl_refresh_due(this_update: datetime, next_update: datetime, now: datetime) -> bool:
    """Whether the CRL should be regenerated at ``now`` (from its half-life on)."""
    return require_aware(now, "now") >= crl_refresh_at(this_update, next_update)
