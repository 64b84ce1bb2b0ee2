"""The notice of a CT finding (R18), queued in the transaction that records the finding.

Cert services (every enabled operator account) and, when a grant covers the names, the
organization's contacts get one mail per finding. The mail waits in the one mail queue as a
stored message (:func:`certdesk.store.mail_queue.queue_message`), keyed by the finding, so it
exists exactly when the finding was committed and is sent once by the queue's sender, with
its claims, retries and backoff (:mod:`certdesk.services.lifecycle.mail_queue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from certdesk.core.calendar import PACIFIC
from certdesk.core.ct_findings import headline
from certdesk.services.runtime import Runtime
from certdesk.store import ct as store
from certdesk.store import mail_queue as queue
from certdesk.store import notices as notice_store
from certdesk.store.models import CtFinding

__all__ = ["queue_finding_mail", "reason_of"]


def reason_of(finding_id: int) -> str:
    """The mail's once-only key beside the finding's id and the address."""
    return f"ct.finding#{finding_id}"


def _when(value: datetime) -> str:
    return value.astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M %Z")


def _text(f: CtFinding, log_name: str, console: str) -> str:
    names = f.names.split(",")
    kind = "precertificate" if f.precert else "certificate"
    return "\n".join(
        [
            f"A Certificate Transparency log shows a {kind} for {', '.join(names)} that",
            "certdesk did not issue and that is not in its inventory.",
            "",
            f"Issued by:   {f.issuer}",
            f"Serial:      {f.serial}",
            f"Valid:       {_when(f.not_before)} to {_when(f.not_after)}",
            f"SHA-256:     {f.sha256}",
            f"Seen in:     log {log_name}, entry {f.entry_index}, logged {_when(f.logged_at)}",
            "",
            "If your organization asked another certificate authority for it, nothing is wrong;",
            "otherwise someone may have obtained a certificate for your name: tell certificate",
            "services at once.",
            "",
            f"All findings: {console}",
        ]
    )


def queue_finding_mail(
    s: Session, rt: Runtime, findings: Sequence[CtFinding], now: datetime
) -> int:
    """Queue the notices of ``findings`` (just inserted) in the caller's transaction ``s``;
    returns how many mails were queued."""
    if not findings:
        return 0
    operators = store.operator_emails(s)
    contacts = notice_store.org_contacts(s, [f.org_id for f in findings if f.org_id is not None])
    logs = {row.id: row.name for row in store.all_logs(s)}
    console = rt.settings.base_url.rstrip("/") + "/ct"
    queued = 0
    for f in findings:
        to = list(operators)
        if f.org_id is not None:
            to += [email for _name, email in contacts.get(f.org_id, [])]
        subject = f"Certificate Transparency: {headline(f.names.split(','))}"
        text = _text(f, logs.get(f.log_id, "?"), console)
        for address in dict.fromkeys(a.strip().lower() for a in to if a.strip()):
            queue.queue_message(
                s,
                {
                    "subject_id": f.id,
                    "contact_email": address,
                    "reason": reason_of(f.id),
                    "subject": subject[:300],
                    "body_text": text,
                    "body_html": "",
                    "sealed_link": None,
                    "created_at": now,
                },
            )
            queued += 1
    return queued
