"""Migration 0008 (issue 11, part 4): the outbox's rows move into the one mail queue.

A database made by the previous schema holds outbox mail as that release wrote it (a waiting
enrollment mail with its link sealed in the body, a sent one, a failed one). After the
upgrade the waiting mail is in the queue with its link still sealed (never in clear, security
finding 1), goes out over a real SMTP server with the link that works, and the downgrade puts
every row back as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text

from certdesk.config import Settings
from certdesk.services.people.account_mail import LINK_MARK
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store.db import alembic_config, make_engine
from certdesk.store.models import Notice
from conftest import ManualClock, scratch_database
from world.mail import SmtpServer
from world.migrations import alembic_step

REVISION = "0008"
BASE = "https://certdesk.cdt.ca.gov"
TOKEN = "ab" * 32  # a link token as certdesk makes them (hex)
WHEN = datetime(2027, 1, 4, 18, 0, tzinfo=UTC)


def _below() -> str:
    """The revision this one follows (the lead relinks the chain at merge)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    below = script.get_revision(REVISION).down_revision
    assert isinstance(below, str)
    return below


def _old_outbox(engine: Engine, box: SecretBox) -> str:
    """Three outbox rows as the previous release wrote them; the sealed form of TOKEN."""
    sealed = box.seal(TOKEN.encode()).decode()
    link = f"{BASE}/enroll/sealed.{sealed}"
    rows = [
        ("jane@dmv.ca.gov", "Your certdesk account: set your password",
         f"Hello Jane,\n\n{link}\n", f'<p><a href="{link}">{link}</a></p>', "pending", 2,
         "ConnectionRefusedError: [Errno 111] Connection refused", None),
        ("ana@dmv.ca.gov", "certdesk: reset your password",
         f"{BASE}/enroll/[link removed after sending]\n", "", "sent", 1, "", WHEN),
        ("gone@dmv.ca.gov", "Your certdesk account: set your password",
         f"{BASE}/enroll/[link removed after sending]\n", "", "failed", 1,
         "SMTPRecipientsRefused: 550 no such mailbox", None),
    ]  # fmt: skip
    with engine.begin() as conn:
        for to, subject, body, html, status, attempts, error, sent_at in rows:
            conn.execute(
                text(
                    "INSERT INTO outbox (to_addr, subject, body_text, body_html, status,"
                    " attempts, last_error, created_at, sent_at) VALUES (:to, :subject,"
                    " :body, :html, :status, :attempts, :error, :created, :sent)"
                ),
                {
                    "to": to, "subject": subject, "body": body, "html": html, "status": status,
                    "attempts": attempts, "error": error,
                    "created": WHEN - timedelta(hours=1), "sent": sent_at,
                },
            )  # fmt: skip
    return sealed


def _outbox(engine: Engine) -> list[tuple[str, str, str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT to_addr, status, body_text, body_html, attempts FROM outbox ORDER BY id")
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_queued_outbox_mail_moves_into_the_queue_sealed_and_is_sent(
    backend: str, tmp_path: Path
) -> None:
    with scratch_database(backend, tmp_path, "mailq") as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            base_url=BASE,
            ca_passphrase="test-passphrase",
            mail_from="certdesk@cdt.ca.gov",
        )
        engine = make_engine(url)
        try:
            alembic_step(engine, "upgrade", _below())
            sealed = _old_outbox(engine, SecretBox(settings.secrets_dir))
            before = _outbox(engine)

            alembic_step(engine, "upgrade", REVISION)
            assert "outbox" not in inspect(engine).get_table_names()
            with engine.connect() as conn:
                # The columns of 0008 (later revisions add more, absent at this revision).
                columns = (
                    Notice.contact_email, Notice.status, Notice.attempts, Notice.subject_type,
                    Notice.sealed_link, Notice.body_text, Notice.body_html, Notice.last_error,
                    Notice.sent_at,
                )  # fmt: skip
                queued = conn.execute(select(*columns).order_by(Notice.id)).all()
            assert [(r.contact_email, r.status, r.attempts) for r in queued] == [
                ("jane@dmv.ca.gov", "pending", 2),
                ("ana@dmv.ca.gov", "sent", 1),
                ("gone@dmv.ca.gov", "failed", 1),
            ]
            assert {r.subject_type for r in queued} == {"account"}
            waiting = queued[0]
            # Still sealed at rest: the token only in its sealed column, never in clear.
            assert waiting.sealed_link == sealed
            for body in (waiting.body_text, waiting.body_html):
                assert LINK_MARK in body and "sealed." not in body and TOKEN not in body
            assert waiting.last_error.startswith("ConnectionRefusedError")
            assert queued[1].sent_at == WHEN and queued[2].last_error.endswith("no such mailbox")

            # Down and up again: the outbox comes back exactly as it was.
            alembic_step(engine, "downgrade", _below())
            assert _outbox(engine) == before
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM notices")) == 0
            alembic_step(engine, "upgrade", "head")
        finally:
            engine.dispose()

        # The migrated mail goes out through the queue, with the link that works.
        with SmtpServer() as smtp:
            services = Services(
                Runtime.open(settings.model_copy(update={"smtp_url": smtp.url}), ManualClock())
            )
            try:
                report = services.mail.send()
                assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
                assert services.mail.send().sent == 0
            finally:
                services.rt.close()
        (msg,) = smtp.inbox.messages
        assert msg["To"] == "jane@dmv.ca.gov"
        body = msg.get_body(("plain",))
        assert body is not None and f"{BASE}/enroll/{TOKEN}" in body.get_content()
