"""One error family for the whole package (STYLE habit 3).

Every domain error carries a stable dotted ``code`` (``name.not_allowed``,
``csr.bad_signature`` ...) and a ``kind`` that says what sort of mistake it is.
Only adapters translate: the web layer turns a kind into an HTTP status and an
RFC 9457 problem document, the CLI turns any of them into exit code 1.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What sort of failure an error is; adapters map it to a status or exit code."""

    INVALID = "invalid"  # the input is wrong (HTTP 400/422)
    UNAUTHORIZED = "unauthorized"  # no or bad credentials (401)
    FORBIDDEN = "forbidden"  # known caller, not allowed (403)
    NOT_FOUND = "not_found"  # no such object, or not visible to the caller (404)
    CONFLICT = "conflict"  # the object's state does not allow it (409)
    UNAVAILABLE = "unavailable"  # a dependency is down (503)


class CertdeskError(Exception):
    """Base of every error certdesk raises on purpose."""

    kind: Kind = Kind.INVALID

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra

    def __str__(self) -> str:
        return self.detail


class InvalidInput(CertdeskError):
    kind = Kind.INVALID


class TooLarge(InvalidInput):
    """Input past a configured size limit (``limit`` in ``extra``): HTTP 413 on the web,
    exit 1 on the command line like any other refused input."""


class PolicyRefusal(InvalidInput):
    """A name, key or validity refused by a numbered rule (R1, R2, R12, R13)."""

    def __init__(self, code: str, detail: str, *, rule: str, **extra: Any) -> None:
        super().__init__(code, detail, rule=rule, **extra)
        self.rule = rule


class Unauthorized(CertdeskError):
    kind = Kind.UNAUTHORIZED


class Forbidden(CertdeskError):
    kind = Kind.FORBIDDEN


class NotFound(CertdeskError):
    kind = Kind.NOT_FOUND


class Conflict(CertdeskError):
    kind = Kind.CONFLICT


class Unavailable(CertdeskError):
    kind = Kind.UNAVAILABLE
