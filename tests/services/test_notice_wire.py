"""R9, R10: the notice and account-mail bytes certdesk writes in one pass
(certdesk.notify.wire) are the same mail as the ``EmailMessage`` it built before: both parsed
with :mod:`email`, every header and every part compared. Also what a mail server needs of
them: CRLF line ends, lines of at most 998 octets, 7-bit clean."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from certdesk.notify.messages import Mail
from certdesk.notify.wire import Sender, render
from certdesk.services.lifecycle.notice_mail import NoticeItem, build_message
from certdesk.services.lifecycle.queued_mail import message_id, queued_mail

AT = datetime(2027, 3, 1, 18, 30, tzinfo=UTC)


def _item(i: int, reason: str = "expiry.30") -> NoticeItem:
    return NoticeItem(i, "certificate", i, "ana@dmv.ca.gov", reason, AT, False)


def old_message(
    sender: str, to: str, mail: Mail, items: list[tuple[NoticeItem, str, bool]]
) -> EmailMessage:
    """The message as certdesk built it before the wire path (kept here as the reference)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = mail.subject
    msg.set_raw("Date", format_datetime(AT))
    msg.set_raw("Message-ID", message_id([i.id for i, _, _ in items], sender))
    msg.set_raw("Auto-Submitted", "auto-generated")
    for item, label, late in items:
        msg.set_raw(
            "X-Certdesk-Notice",
            f"{label}; reason={item.reason}; late={'yes' if late else 'no'}; id={item.id}",
        )
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=email_policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def headers(msg: EmailMessage) -> list[tuple[str, str]]:
    out = []
    for name, value in msg.items():
        if name.lower() == "content-type" and msg.get_content_maintype() == "multipart":
            value = msg.get_content_type()  # the boundary is random in both
        out.append((name.lower(), str(value)))
    return sorted(out)


def parts(msg: EmailMessage) -> list[tuple[str, str, str]]:
    """Each leaf part's type, charset and text; line ends as a reader sees them (a base64
    part carries LF, a 7bit or quoted-printable one the wire's CRLF)."""
    found = msg.walk() if msg.is_multipart() else [msg]
    out = []
    for p in found:
        if not p.is_multipart():
            text: str = p.get_content()  # type: ignore[attr-defined]
            out.append(
                (p.get_content_type(), str(p.get_content_charset()), text.replace("\r\n", "\n"))
            )
    return out


LONG = "Certificate www.example.dmv.ca.gov (0A1B2C3D4E5F) expires in 30 days " * 4
CASES = [
    pytest.param("certdesk@cdt.ca.gov", Mail("Certificate expires", "Hi.\n", "<p>Hi.</p>\n"),
                 id="ascii/short"),
    pytest.param("certdesk@cdt.ca.gov", Mail(LONG.strip()[:300], "x" * 200 + "\n", "<p>" +
                 "y " * 300 + "</p>\n"), id="ascii/long-subject-and-lines"),
    pytest.param("Servicios de Certificados <certdesk@cdt.ca.gov>",
                 Mail("Caso «Año nuevo» — José Núñez ✓ 証明書の期限", "Hola José,\n\nÑandú — ✓\n",
                      "<p>Hola José — 証明書</p>\n"), id="non-ascii/subject-body-and-sender"),
    pytest.param("certdesk@cdt.ca.gov", Mail("Lines", ".\nFrom here\n  trailing  \n\tTab\n=3D\n",
                 ""), id="text-only/dots-and-spaces"),
    pytest.param("certdesk@cdt.ca.gov", Mail("é" * 200, "\r\n".join(["ü" * 120] * 3), "<b>é</b>"),
                 id="non-ascii/long-everything"),
]  # fmt: skip


@pytest.mark.parametrize(("sender", "mail"), CASES)
@pytest.mark.parametrize("count", [1, 3], ids=["notice", "digest"])
def test_wire_bytes_are_the_same_mail_as_the_email_package_made(
    sender: str, mail: Mail, count: int
) -> None:
    items = [(_item(i + 7), f"certificate 0A{i}", i == 1) for i in range(count)]
    old = old_message(sender, "ana@dmv.ca.gov", mail, items)
    out = build_message(Sender.of(sender), "ana@dmv.ca.gov", mail, items, AT)
    new = parse(out.data)
    # As smtplib's send_message put it on the wire: CRLF line ends.
    before = parse(old.as_bytes(policy=old.policy.clone(linesep="\r\n")))
    assert headers(new) == headers(before)
    assert parts(new) == parts(before)
    assert new["Message-ID"] == message_id([i.id for i, _, _ in items], sender)
    assert (out.envelope_from, out.to) == ("certdesk@cdt.ca.gov", "ana@dmv.ca.gov")


def old_account_message(sender: str, to: str, mail: Mail, mail_id: int) -> EmailMessage:
    """An account mail as certdesk built it before it went through the wire path (R10)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = mail.subject
    msg.set_raw("Date", format_datetime(AT))
    msg.set_raw("Message-ID", message_id([mail_id], sender, kind="mail"))
    msg.set_raw("Auto-Submitted", "auto-generated")
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg


@pytest.mark.parametrize(("sender", "mail"), CASES)
def test_account_mail_wire_bytes_are_the_same_mail_as_the_email_package_made(
    sender: str, mail: Mail
) -> None:
    """R10: account mail is built by the notices' builder (one way to build mail)."""
    old = old_account_message(sender, "jane@dmv.ca.gov", mail, 41)
    out = queued_mail(Sender.of(sender), "jane@dmv.ca.gov", mail, [41], AT, kind="mail")
    new = parse(out.data)
    before = parse(old.as_bytes(policy=old.policy.clone(linesep="\r\n")))
    assert headers(new) == headers(before)
    assert parts(new) == parts(before)
    assert new["Message-ID"] == "<certdesk.mail.41@cdt.ca.gov>"
    assert (out.envelope_from, out.to) == ("certdesk@cdt.ca.gov", "jane@dmv.ca.gov")


@pytest.mark.parametrize(("sender", "mail"), CASES)
def test_wire_bytes_are_what_smtp_carries(sender: str, mail: Mail) -> None:
    """RFC 5322 §2.1.1 / §2.3: CRLF only, no line over 998 octets; 7-bit clean (no 8BITMIME
    needed); every header line within 78 characters where a space allows a fold."""
    data = build_message(Sender.of(sender), "ana@dmv.ca.gov", mail, [(_item(1), "c", False)], AT)
    raw = data.data
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in head)


def test_a_header_value_never_starts_a_new_header() -> None:
    out = render(
        sender=Sender.of("certdesk@cdt.ca.gov"),
        to="ana@dmv.ca.gov",
        subject="Case title\r\nBcc: eve@example.com",
        headers=[],
        text="x\n",
    )
    msg = parse(out.data)
    assert msg["Bcc"] is None and msg["Subject"] == "Case title Bcc: eve@example.com"
