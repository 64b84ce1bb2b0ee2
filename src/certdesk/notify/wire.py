"""A finished mail as the bytes SMTP carries, written in one pass (RFC 5322, RFC 2045-2047).

The email package's ``EmailMessage`` parses every header it is given into objects and
folds them again when the message is flattened; for the notices, where certdesk builds every
header itself, that was about half the CPU of sending one. :func:`render` writes the same
message directly: the headers given, in order, then a ``text/plain`` part, or a
``multipart/alternative`` of ``text/plain`` and ``text/html`` when there is HTML, in UTF-8,
lines ended by CRLF.

* A header value that is ASCII is folded at spaces to lines of at most 78 characters
  (RFC 5322 §2.1.1, §2.2.3); one that is not is written as RFC 2047 encoded words (UTF-8,
  base64, each at most 75 characters, never splitting a character), which readers join back
  without the spaces between them (RFC 2047 §6.2). A line break in a value never starts a
  new header: every run of white space becomes one space.
* A body that is ASCII with lines of at most 78 characters goes as ``7bit``; any other as
  ``quoted-printable`` (RFC 2045 §6.7), so the message stays 7-bit clean and needs no
  8BITMIME from the server.
* The multipart boundary (RFC 2046 §5.1.1) starts with ``=_``, which quoted-printable never
  writes, and is checked against the 7-bit parts.

``tests/services/test_notice_wire.py`` parses these bytes and the ``EmailMessage`` that
certdesk built before with :mod:`email` and compares every header and part.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

__all__ = ["Outgoing", "Sender", "encode_header", "render"]

_MAX_LINE = 78  # RFC 5322 §2.1.1: SHOULD be no more than 78 characters
# 42 bytes of UTF-8 are 56 base64 characters: "=?utf-8?b?…?=" is 68, and with "Subject: "
# in front the first line is still within 78.
_WORD_BYTES = 42
_CRLF = b"\r\n"


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: the envelope (RFC 5321 MAIL FROM, RCPT TO) and data."""

    envelope_from: str
    to: str
    data: bytes


@dataclass(frozen=True)
class Sender:
    """``CERTDESK_MAIL_FROM`` read once: the ``From`` header and the envelope's address."""

    header: str
    address: str

    @classmethod
    def of(cls, mail_from: str) -> Sender:
        name, address = parseaddr(mail_from)
        return cls(formataddr((name, address), charset="utf-8") if name else address, address)


def encode_header(name: str, value: str) -> bytes:
    """``Name: value`` folded (ASCII) or as encoded words (not ASCII), ending in CRLF."""
    value = " ".join(value.split())
    if value.isascii():
        return _fold(f"{name}:", value.split(" ")) if value else f"{name}:\r\n".encode()
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        n = len(char.encode())
        if size + n > _WORD_BYTES:
            words.append(_word("".join(chunk)))
            chunk, size = [], 0
        chunk.append(char)
        size += n
    if chunk:
        words.append(_word("".join(chunk)))
    return _fold(f"{name}:", words)


def _word(text: str) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(text.encode(), newline=False).decode() + "?="


def _fold(head: str, words: Sequence[str]) -> bytes:
    lines: list[str] = []
    line = head
    for word in words:
        if len(line) + 1 + len(word) > _MAX_LINE and line != head:
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode()


def _body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, the encoded body with CRLF line ends)."""
    raw = text.encode()
    lines = raw.splitlines()  # \n, \r\n and \r, as the email package splits a body
    if raw.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        return "7bit", _CRLF.join(lines) + _CRLF
    return "quoted-printable", binascii.b2a_qp(_CRLF.join(lines) + _CRLF, istext=True)


def _part(subtype: str, text: str) -> tuple[bytes, bytes, bool]:
    """(part headers, part body, whether the body is 7bit)."""
    cte, body = _body(text)
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    ).encode()
    return head, body, cte == "7bit"


def render(
    *,
    sender: Sender,
    to: str,
    subject: str,
    headers: Sequence[tuple[str, str]],
    text: str,
    html: str = "",
) -> Outgoing:
    """The message from ``sender`` to ``to``: ``From``, ``To``, ``Subject``, then ``headers``
    (name, value) in order, then the body: ``text``, and ``html`` as its alternative."""
    out = [
        encode_header("From", sender.header),
        encode_header("To", to),
        encode_header("Subject", subject),
    ]
    out += [encode_header(name, value) for name, value in headers]
    out.append(b"MIME-Version: 1.0\r\n")
    plain_head, plain, plain_7bit = _part("plain", text)
    if not html:
        out += [plain_head, _CRLF, plain]
        return Outgoing(sender.address, to, b"".join(out))
    html_head, markup, html_7bit = _part("html", html)
    while True:
        boundary = "=_certdesk_" + secrets.token_hex(12)
        mark = b"--" + boundary.encode()
        if not (plain_7bit and mark in plain) and not (html_7bit and mark in markup):
            break
    out += [
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode(),
        _CRLF,
        mark,
        _CRLF,
        plain_head,
        _CRLF,
        plain,
        _CRLF,  # RFC 2046 §5.1.1: this CRLF belongs to the boundary, not to the part
        mark,
        _CRLF,
        html_head,
        _CRLF,
        markup,
        _CRLF,
        mark,
        b"--\r\n",
    ]
    return Outgoing(sender.address, to, b"".join(out))
