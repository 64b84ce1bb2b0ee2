"""What one worker pass did: the report ``certdesk worker --once --json`` prints, and the
heartbeat's count of changes (:mod:`certdesk.jobs.worker`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class PassReport:
    """What one pass did (``certdesk worker --once --json`` prints it)."""

    worker_id: str
    now: datetime
    seconds: float = 0.0
    voided: int = 0
    expired: int = 0
    superseded: int = 0
    retired: int = 0  # replaced by an in-window reissue, revoked after the overlap (R8)
    renewals_due: int = 0
    renewals_opened: int = 0
    renewals_adopted: int = 0
    renewals_busy: int = 0
    renewals_advanced: int = 0
    windows_closed: int = 0
    overdue_cases: int = 0
    crls_refreshed: int = 0
    vendor_orders_issued: int = 0
    vendor_orders_pending: int = 0
    vendor_orders_failed: int = 0
    vendor_cases_delivered: int = 0
    renewal_info_checked: int = 0  # vendor certificates whose renewal window was asked
    acme_persist_warned: int = 0  # standing dns-persist-01 records warned about
    contract_warnings: int = 0  # mails queued to warn of a vendor contract's end
    notices: dict[str, Any] | None = None
    endpoints: dict[str, Any] | None = None  # re-checks of installed certificates (R14)
    mail: dict[str, Any] | None = None
    ct: dict[str, Any] | None = None  # the CT monitoring pass: entries read, findings
    webhooks: dict[str, Any] | None = None
    checkpoint: str | None = None  # R15: the signed audit checkpoint written by this pass
    stopped: bool = False  # a stop request cut the pass short
    errors: list[str] = field(default_factory=list)
    job_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each job

    @property
    def jobs_done(self) -> int:
        """Changes made (items, not checks): what the heartbeat's ``jobs_done`` adds up."""
        mail_sent = int((self.mail or {}).get("sent", 0))
        notices_sent = int((self.notices or {}).get("sent", 0))
        hooks_done = int((self.webhooks or {}).get("delivered", 0))
        return (
            self.voided
            + self.expired
            + self.superseded
            + self.retired
            + self.renewals_opened
            + self.renewals_adopted
            + self.renewals_advanced
            + self.windows_closed
            + self.crls_refreshed
            + self.vendor_orders_issued
            + self.vendor_orders_failed
            + self.vendor_cases_delivered
            + notices_sent
            + mail_sent
            + int((self.ct or {}).get("findings", 0))
            + self.acme_persist_warned
            + hooks_done
            + self.contract_warnings
        )

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["now"] = self.now.isoformat().replace("+00:00", "Z")
        out["jobs_done"] = self.jobs_done
        return out


def as_dict(stats: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    as_dict = getattr(stats, "as_dict", None)
    if callable(as_dict):
        result = as_dict()
        return dict(result) if isinstance(result, dict) else {"result": str(result)}
    return {"result": str(stats)}
