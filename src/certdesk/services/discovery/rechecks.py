"""The worker's re-checks of delivered certificates (R14) and external expiry notices (R18).

Each pass takes the active certificates not checked for ``CERTDESK_VERIFY_INTERVAL_HOURS``
(oldest first, a bounded batch) and verifies every DNS name they carry at port 443,
``CERTDESK_VERIFY_CONCURRENCY`` at a time, each connection under its own deadline. Every
result is a check on the certificate's timeline (an unreachable name too).

Two findings are mailed to the certificate's contacts and to cert services, exactly once
per (certificate, finding, served certificate): "renewed but the old certificate is still
served" and "the served certificate is not in the inventory". The once-only row
(``endpoint_findings``) is inserted in the transaction that queues the mail in the one mail
queue (stored mail, sent by the queue's sender like account mail); a second worker's insert
finds the key and queues nothing.

External certificates with contacts get the R9 expiry notices on the configured days, with
the same once-only key in the mail queue.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.orm import Session

from certdesk.core.endpoints import Starttls, Target
from certdesk.errors import CertdeskError
from certdesk.services.discovery.verification import Report, Verification
from certdesk.services.runtime import Runtime
from certdesk.store import endpoints as store
from certdesk.store import mail_queue
from certdesk.store import notices as notice_store

log = structlog.get_logger("certdesk.verify")

BATCH = 200  # certificates per pass
MAILED = ("inventory.stale", "inventory.unknown")
WORKER = "worker"
PACIFIC = ZoneInfo("America/Los_Angeles")


@dataclass
class RecheckReport:
    certificates: int = 0
    endpoints: int = 0
    unreachable: int = 0
    findings_mailed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Rechecks:
    def __init__(self, rt: Runtime, verification: Verification) -> None:
        self._rt = rt
        self._verification = verification

    def run(self, now: datetime | None = None) -> RecheckReport:
        now = now or self._rt.clock()
        report = RecheckReport()
        since = now - timedelta(hours=self._rt.settings.verify_interval_hours)
        with self._rt.reads() as s:
            due = [
                (c.id, c.serial, [n for n in c.names.split(",") if n and not n.startswith("*")])
                for c in store.due_for_recheck(s, since, now, BATCH)
            ]
        jobs = [(cid, serial, name) for cid, serial, names in due for name in names]
        report.certificates = len(due)
        report.endpoints = len(jobs)
        workers = max(1, min(self._rt.settings.verify_concurrency, len(jobs) or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(self._one, jobs))
        for (cert_id, serial, name), result in zip(jobs, results, strict=True):
            if isinstance(result, str):
                report.unreachable += 1
                self._verification.record(
                    Target(name, self._rt.settings.verify_port),
                    name,
                    now,
                    None,
                    None,
                    None,
                    cert_id,
                    error=result,
                )
                continue
            report.findings_mailed += self._mail_findings(cert_id, serial, name, result, now)
        return report

    def _one(self, job: tuple[int, str, str]) -> Report | str:
        cert_id, _serial, name = job
        starttls: Starttls | None = None
        try:
            return self._verification.check(
                Target(name, self._rt.settings.verify_port), name, starttls, subject_cert_id=cert_id
            )
        except CertdeskError as exc:
            return exc.detail

    def _mail_findings(self, cert_id: int, serial: str, name: str, r: Report, now: datetime) -> int:
        wanted = [f for f in r.verdict.findings if f.code in MAILED]
        if not wanted:
            return 0
        sent = 0
        with self._rt.sessions.begin() as s:
            for finding in wanted:
                # "Still served" concerns the served (old) certificate, whichever of its
                # successors' checks saw it; "not in the inventory" the certificate whose
                # name answered with a stranger.
                subject = cert_id
                if finding.code == "inventory.stale" and r.known is not None:
                    subject = r.known.id
                fresh = store.record_finding(
                    s,
                    {
                        "subject_type": "certificate",
                        "subject_id": subject,
                        "code": finding.code,
                        "served_sha256": r.observation.leaf_sha256,
                        "host": name,
                        "port": self._rt.settings.verify_port,
                        "created_at": now,
                    },
                )
                if not fresh:
                    continue
                people = notice_store.submittal_contacts_of_certs(s, [subject]).get(subject, [])
                to = [e for _n, e in people] + store.operator_emails(s)
                title, text = _finding_mail(serial, name, finding.message)
                for email in dict.fromkeys(to):
                    sent += self._queue(
                        s, subject, email, f"{finding.code}#{subject}", title, text, now
                    )
        return sent

    def _queue(
        self, s: Session, subject_id: int, email: str, reason: str, subject: str, text: str,
        now: datetime,
    ) -> int:  # fmt: skip
        mail_queue.queue_message(
            s,
            {
                "subject_id": subject_id,
                "contact_email": email,
                "reason": f"endpoint.{reason}"[:40],
                "subject": subject,
                "body_text": text,
                "body_html": "",
                "created_at": now,
            },
        )
        return 1

    def external_expiry(self, now: datetime | None = None) -> int:
        """R9 for external certificates: queue each contact's notice on the configured days
        before expiry, once (the worker's ``verify`` job, every pass). The count queued."""
        return self._external_expiry(now or self._rt.clock())

    def _external_expiry(self, now: datetime) -> int:
        days = sorted(self._rt.settings.notice_days, reverse=True)
        if not days:
            return 0
        sent = 0
        with self._rt.sessions.begin() as s:
            rows = store.expiring_external(s, now + timedelta(days=max(days)), now)
            people = store.contacts(s, [r.id for r in rows])
            for row in rows:
                left = (row.not_after - now).days
                step = min((d for d in days if d >= left), default=None)
                if step is None or not people[row.id]:
                    continue
                fresh = store.record_finding(
                    s,
                    {
                        "subject_type": "external",
                        "subject_id": row.id,
                        "code": f"expiry.{step}",
                        "served_sha256": row.fingerprint_sha256,
                        "host": "",
                        "port": 0,
                        "created_at": now,
                    },
                )
                if not fresh:
                    continue
                first = row.names.split(",")[0]
                subject = f"Certificate for {first} expires in {max(left, 0)} days"
                text = (
                    f"The certificate for {row.names.replace(',', ', ')} (not issued by the "
                    f"certificate service) expires {_pacific(row.not_after)}.\n"
                    "Ask the certificate service to replace it with a managed certificate.\n"
                )
                for _n, email in people[row.id]:
                    sent += self._queue(
                        s, row.id, email, f"ext.expiry.{step}#{row.id}", subject, text, now
                    )
        return sent


def _pacific(at: datetime) -> str:
    """R19: times in mail are Pacific, with the zone shown."""
    return at.astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M %Z")


def _finding_mail(serial: str, name: str, message: str) -> tuple[str, str]:
    subject = f"{name}: {message}"[:300]
    text = (
        f"The certificate service checked {name} .\n\n"
        f"{message[0].upper()}{message[1:]}.\n\n"
        f"Certificate {serial} is the one the inventory holds for this name. Install it "
        "(with its chain) on every server answering for the name.\n"
    )
    return subject, text
