"""Sending account mail (R10 enrollment and reset) from the one mail queue.

Account mail waits in the same queue as the R9 notices (:mod:`certdesk.store.mail_queue`,
queued by :mod:`certdesk.services.people.account_mail`) and goes out the same way: each
message is **claimed** with a lease before it is sent (two senders never make the same
attempt), the outcome is written right after the SMTP server answered and only where the
claim is still this sender's, and a claim whose sender died runs out and is taken over, its
attempt counted. The guarantee is the notices' (see :mod:`certdesk.services.lifecycle.
notices`): recorded once, never lost; the one message a crash between the server's "250"
and the mark can send twice goes out with the same ``Message-ID``.

**Failures.** A server that cannot be reached, or refuses our login or our sender, stops the
run: the mail waits (``pending``) and is retried with exponential backoff, however long the
outage lasts; an outage never fails a mail for good. A temporary refusal of one message (4xx)
is retried with the same backoff up to ``CERTDESK_NOTICE_MAX_ATTEMPTS``; a permanent refusal
(5xx) fails it at once. A mail failed for good is told to cert services, once and audited
(``_AccountMailRun._undeliverable``). ``certdesk worker`` sends what is due each pass;
``certdesk mail send`` (an operator, after fixing the SMTP server) sends everything waiting
at once.
"""

from __future__ import annotations

import ssl
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

import structlog
from sqlalchemy.orm import Session

from certdesk.core.notices import Undelivered
from certdesk.errors import CertdeskError, Unavailable
from certdesk.notify.messages import Mail, account_mail_undeliverable
from certdesk.notify.smtp import SmtpTransport, Transport, parse_smtp_url
from certdesk.notify.wire import Outgoing, Sender
from certdesk.services.audit import AuditService
from certdesk.services.lifecycle.mail_queue import CLAIM_LEASE, Halt, QueueSender, RunClock
from certdesk.services.lifecycle.queued_mail import queued_mail
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.lifecycle.undeliverable import (
    is_escalation,
    told_of_failure,
    undeliverable_reason,
)
from certdesk.services.people.account_mail import opened
from certdesk.services.pki import signer_identity
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import mail_queue as store
from certdesk.store import users as user_store
from certdesk.store.models import Notice
from certdesk.store.notices import ACCOUNT, STORED_MESSAGES

log = structlog.get_logger("certdesk.mail")

BATCH = 500  # account mail claimed per run


@dataclass
class SendReport:
    """What one run did (``certdesk mail send --json`` and the worker's ``mail`` job)."""

    sent: int = 0
    retrying: int = 0  # failed this time (or not attempted), waiting for a retry
    failed: int = 0  # failed for good this time
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Stored:
    id: int
    to: str
    subject: str
    text: str
    html: str
    sealed_link: str | None
    attempts: int
    subject_type: str
    user_id: int  # the subject's id: the account's, for account mail
    reason: str

    @classmethod
    def of(cls, row: Notice) -> _Stored:
        return cls(
            row.id,
            row.contact_email,
            row.subject,
            row.body_text,
            row.body_html,
            row.sealed_link,
            row.attempts,
            row.subject_type,
            row.subject_id,
            row.reason,
        )


class AccountMailService:
    """Sends the account mail that waits in the mail queue."""

    def __init__(self, rt: Runtime, box: SecretBox, audit: AuditService) -> None:
        self._rt = rt
        self._box = box
        self._audit = audit
        self._tls: ssl.SSLContext | None = None

    def waiting(self) -> int:
        """Account mail not sent yet (pending, or being sent)."""
        with self._rt.reads() as s:
            return sum(store.waiting_count(s, kind) for kind in STORED_MESSAGES)

    def send(
        self,
        transport: Transport | None = None,
        *,
        due_only: bool = False,
        worker_id: str | None = None,
        limit: int = BATCH,
    ) -> SendReport:
        """Send up to ``limit`` waiting account mails, oldest first, over ``transport`` or
        ``CERTDESK_SMTP_URL`` (closed at the end). ``due_only``: only mail whose retry moment
        has come (the worker); otherwise all that waits (an operator's ``mail send``)."""
        if transport is None:
            transport = self._smtp()
        worker = worker_id or signer_identity.current()
        current = RunClock(self._rt.clock(), self._rt.clock)
        report = SendReport()
        try:
            with self._rt.sessions.begin() as s:
                claimed = store.claim_due(
                    s,
                    current(),
                    worker,
                    current() + CLAIM_LEASE,
                    limit,
                    subject_types=STORED_MESSAGES,
                    ignore_backoff=not due_only,
                )
            if claimed:
                with self._rt.reads() as s:
                    queue = deque([_Stored.of(row)] for row in store.by_ids(s, sorted(claimed)))
                _AccountMailRun(self._rt, self._box, self._audit).send_all(
                    queue, worker, current, transport, report
                )
        finally:
            transport.close()
        if report.sent or report.failed or report.retrying:
            log.info("account mail", worker=worker, **report.as_dict())
        return report

    def _smtp(self) -> Transport:
        url = self._rt.settings.smtp_url
        if not url:
            raise Unavailable(
                "mail.not_configured",
                f"CERTDESK_SMTP_URL is not set; {self.waiting()} message(s) wait in the outbox",
            )
        if self._tls is None:  # one TLS context per process: it reads the CA bundle
            self._tls = ssl.create_default_context()
        return SmtpTransport(parse_smtp_url(url), ssl_context=self._tls)


class _AccountMailRun(QueueSender[_Stored, SendReport]):
    """Account mail through the queue's loop: each stored mail is one message."""

    noun = "mail"
    what = "account mail"

    def __init__(self, rt: Runtime, box: SecretBox, audit: AuditService) -> None:
        super().__init__(rt)
        self._box = box
        self._audit = audit
        self._from = Sender.of(rt.settings.mail_from)

    def _id(self, entry: _Stored) -> int:
        return entry.id

    def _to(self, group: list[_Stored]) -> str:
        return group[0].to

    def _unavailable(self, group: list[_Stored], error: str) -> str:
        return f"{group[0].to}: {error}"

    def _outcome(self, group: list[_Stored]) -> dict[int, tuple[str, bool]]:
        return {mail.id: (mail.subject, False) for mail in group}

    def _compose(
        self,
        group: list[_Stored],
        at: datetime,
        queue: deque[list[_Stored]],
        worker_id: str,
        tally: SendReport,
    ) -> Outgoing:
        (mail,) = group
        try:
            return self._message(mail, at)
        except CertdeskError as exc:  # the secret box cannot open the link: not this key
            raise Halt(exc.detail) from None

    def _message(self, mail: _Stored, at: datetime) -> Outgoing:
        # Built like a notice (one way to build mail); the sealed link is opened only into
        # the bytes handed to the SMTP server (R10).
        body = Mail(
            mail.subject,
            opened(mail.text, mail.sealed_link, self._box),
            opened(mail.html, mail.sealed_link, self._box) if mail.html else "",
        )
        return queued_mail(self._from, mail.to, body, [mail.id], at, kind="mail")

    def _undeliverable(
        self, s: Session, group: list[_Stored], failed: list[int], at: datetime, why: str
    ) -> None:
        """R10: an account mail failed for good, so its person never got the link or warning
        it carried. Cert services are told (``CERTDESK_CERT_SERVICES_EMAIL`` and every
        operator), once per mail and address, and it is audited, in the transaction that
        records the failure (only where this sender still held the claim: exactly once
        across a crash). Such a message about a failed message is not told about again."""
        failure = Undelivered.of(why, 0)
        users_url = self._rt.settings.base_url.rstrip("/") + "/users"
        for mail in group:
            if mail.id not in failed or is_escalation(mail.reason):
                continue
            user = user_store.by_id(s, mail.user_id) if mail.subject_type == ACCOUNT else None
            login_id = user.login_id if user is not None else None
            told = told_of_failure(s, self._rt.settings, mail.to)
            message = account_mail_undeliverable(
                to=mail.to,
                subject=mail.subject,
                login_id=login_id,
                refused=failure.permanent,
                attempts=failure.attempts or mail.attempts + 1,
                said=failure.said,
                users_url=users_url + (f"/{quote(login_id, safe='')}" if login_id else ""),
            )
            store.queue_once(
                s.connection(),
                [
                    {
                        "subject_type": mail.subject_type,
                        "subject_id": mail.user_id,
                        "contact_email": to,
                        "reason": undeliverable_reason(mail.id),
                        "subject": message.subject,
                        "body_text": message.text,
                        "body_html": message.html,
                        "created_at": at,
                    }
                    for to in told
                ],
            )
            if not told:
                log.warning("no cert services address for an undeliverable mail", id=mail.id)
            self._audit.record(
                s,
                WORKER,
                "mail.undeliverable",
                "mail",
                mail.id,
                to=mail.to,
                subject=mail.subject,
                cause="refused" if failure.permanent else "retries exhausted",
                error=failure.said,
                told=told,
            )
