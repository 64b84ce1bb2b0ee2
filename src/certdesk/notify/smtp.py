"""SMTP delivery: ``CERTDESK_SMTP_URL`` parsed once, one connection reused for a batch (and
clones of it, each its own connection, for ``CERTDESK_SMTP_CONNECTIONS``).

``smtp://host[:25]`` plain SMTP (a relay on a trusted network), ``smtps://host[:465]`` TLS from
the first byte (RFC 8314 §3.3, preferred), ``smtp+starttls://host[:587]`` upgrade with STARTTLS
(RFC 3207). ``user:pass@`` (percent-encoded) logs in with SMTP AUTH after TLS is up.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

from certdesk.errors import InvalidInput
from certdesk.notify.wire import Outgoing

Security = Literal["plain", "tls", "starttls"]

SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtps": ("tls", 465),
    "smtp+starttls": ("starttls", 587),
}


# A message as the email package holds it, or already as the bytes SMTP carries.
Message = EmailMessage | Outgoing


class Transport(Protocol):
    """Sends finished messages; the mail queue's senders drive it."""

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SmtpTarget:
    security: Security
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpTarget:
    """The server ``url`` names; errors never repeat the URL (it may hold a password)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidInput(
            "smtp.url", "CERTDESK_SMTP_URL must start with smtp://, smtps:// or smtp+starttls://"
        )
    security, default_port = SCHEMES[scheme]
    if not parts.hostname:
        raise InvalidInput("smtp.url", "CERTDESK_SMTP_URL names no host")
    try:
        port = parts.port or default_port
    except ValueError:
        raise InvalidInput("smtp.url", "CERTDESK_SMTP_URL has an invalid port") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput("smtp.url", "CERTDESK_SMTP_URL takes no path, query or fragment")
    return SmtpTarget(
        security,
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
    )


def is_permanent(exc: Exception) -> bool:
    """A 5xx reply about this message (RFC 5321 §4.2.1) will not succeed on a retry.

    Authentication failures (535) are the exception: they are the operator's configuration,
    and the message should go out once that is fixed.
    """
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def server_level(exc: BaseException) -> bool:
    """The server (or our access to it), not this message, is the problem: retry later.

    Not reachable, dropped the connection, refused our login or our sender address: every
    message would fail the same way, so the run stops and nothing is failed for it.
    """
    if isinstance(
        exc,
        smtplib.SMTPServerDisconnected
        | smtplib.SMTPConnectError
        | smtplib.SMTPHeloError
        | smtplib.SMTPAuthenticationError
        | smtplib.SMTPSenderRefused
        | smtplib.SMTPNotSupportedError,
    ):
        return True
    # smtplib's exceptions are OSErrors too; the other SMTP replies concern this message.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def reply_of(exc: Exception) -> str:
    """The SMTP server's reply in an exception of smtplib: ``550 5.1.1 no such mailbox``."""
    said: bytes | str
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, said = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, said = exc.smtp_code, exc.smtp_error
    else:
        return f"{type(exc).__name__}: {exc}"
    text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
    return f"{code} {' '.join(text.split())}"


class SmtpTransport:
    """One SMTP connection, opened on the first message and reopened after a disconnect."""

    def __init__(
        self,
        target: SmtpTarget,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._target = target
        self._timeout = timeout
        self._ssl = ssl_context
        self._conn: smtplib.SMTP | None = None

    def clone(self) -> SmtpTransport:
        """Another connection to the same server (the mail queue sends on several at once)."""
        return SmtpTransport(self._target, timeout=self._timeout, ssl_context=self._ssl)

    def send(self, message: Message) -> None:
        if self._conn is None:
            self._conn = self._connect()
        try:
            if isinstance(message, Outgoing):
                self._conn.sendmail(message.envelope_from, [message.to], message.data)
            else:
                self._conn.send_message(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()
            raise

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._drop()

    def _connect(self) -> smtplib.SMTP:
        t = self._target
        context = self._ssl or ssl.create_default_context()
        conn: smtplib.SMTP
        if t.security == "tls":
            conn = smtplib.SMTP_SSL(t.host, t.port, timeout=self._timeout, context=context)
        else:
            conn = smtplib.SMTP(t.host, t.port, timeout=self._timeout)
        try:
            if t.security == "starttls":
                conn.ehlo()
                conn.starttls(context=context)
                conn.ehlo()
            if t.username is not None:
                conn.login(t.username, t.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
