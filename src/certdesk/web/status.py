"""The one mapping from a domain error's kind to an HTTP status (API problems and pages)."""

from __future__ import annotations

from certdesk.errors import CertdeskError, Kind, TooLarge

STATUS = {
    Kind.INVALID: 400,
    Kind.UNAUTHORIZED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.UNAVAILABLE: 503,
}
TOO_LARGE = 413  # RFC 9110 §15.5.14 Content Too Large


def status_of(error: CertdeskError) -> int:
    """The HTTP status of ``error``: its kind's, or 413 for input past a size limit."""
    return TOO_LARGE if isinstance(error, TooLarge) else STATUS[error.kind]
