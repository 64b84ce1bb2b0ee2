"""The one mapping from a domain error's kind to an HTTP status (API problems and pages)."""

from __future__ import annotations

from certdesk.errors import Kind

STATUS = {
    Kind.INVALID: 400,
    Kind.UNAUTHORIZED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.UNAVAILABLE: 503,
}
