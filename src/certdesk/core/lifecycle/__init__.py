"""What the lifecycle worker must do for a certificate or a case at an instant (R6, R8, R9).

The worker (``certdesk worker``) only executes these plans: it reads a certificate's dates and
the notices already recorded, asks this package what is due at ``now``, and claims each due
item exactly once in the store. Nothing here reads a clock, a database or the network; every
function takes the instants it reasons about, so tests travel in time with plain arguments.

All instants are timezone-aware; results are aware UTC. Calendar reasoning (business days,
"N days before") happens in America/Los_Angeles, the state's calendar (R5, R7).

Decisions, each in one module of this package (re-exported here, so
``from certdesk.core.lifecycle import renewal_plan`` works wherever it did):

* **Renewal opens** (R6, :func:`renewal_plan`, ``renewals.py``) at the earliest of (a) the
  start (00:00 Pacific) of the last business day from which the R5 due date still falls at
  least ``renewal_margin_days`` calendar days before the expiry day, (b)
  ``lifetime_fraction`` of the validity period, and (c) a renewal date the customer asked
  for; never before ``not_before``.
* **Expiry notices** (R9, :func:`expiry_notices_due`, ``expiry.py``) are due at the expiry's
  Pacific wall-clock time (17:00 under R7) N calendar days earlier. A threshold already past
  when certdesk started tracking the certificate is never due (a 47-day certificate gets no
  90- or 60-day notice). Every other threshold is due once its moment passes and stays due
  until it is recorded as sent: a worker that was down over several thresholds sends each of
  them, once, marked late — none is skipped, not even after the certificate expired.
* **Late** means sent more than ``late_grace`` after the moment the notice became due.
* **The window** after delivery and its closing notice (R8, R9, ``window.py``); **CRL
  refresh** at half-life (``crls.py``); the settings all of them read
  (:class:`LifecyclePolicy`, ``policy.py``).
"""

from __future__ import annotations

from certdesk.core.lifecycle.crls import crl_refresh_at, crl_refresh_due
from certdesk.core.lifecycle.expiry import (
    REASON_EXPIRED,
    NoticeDue,
    expired,
    expiry_notice_at,
    expiry_notices_due,
    expiry_reason,
    next_expiry_notice_at,
)
from certdesk.core.lifecycle.policy import DEFAULT_NOTICE_DAYS, LifecyclePolicy
from certdesk.core.lifecycle.renewals import (
    RenewalBasis,
    RenewalPlan,
    renewal_opens_at,
    renewal_plan,
    turnaround_due_before,
)
from certdesk.core.lifecycle.window import (
    REASON_WINDOW_CLOSING,
    window_closing_notice_at,
    window_closing_notice_due,
    window_end,
)

__all__ = [
    "DEFAULT_NOTICE_DAYS",
    "REASON_EXPIRED",
    "REASON_WINDOW_CLOSING",
    "LifecyclePolicy",
    "NoticeDue",
    "RenewalBasis",
    "RenewalPlan",
    "crl_refresh_at",
    "crl_refresh_due",
    "expired",
    "expiry_notice_at",
    "expiry_notices_due",
    "expiry_reason",
    "next_expiry_notice_at",
    "renewal_opens_at",
    "renewal_plan",
    "turnaround_due_before",
    "window_closing_notice_at",
    "window_closing_notice_due",
    "window_end",
]
