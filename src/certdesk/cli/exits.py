"""The CLI's exit codes (README "Exit codes"): distinct, so that scripts can tell outcomes apart.

Only the CLI turns errors into exit codes (STYLE habit 3): ``cli/main.py`` maps a domain
error's kind; a command that reports several outcomes itself picks one of these.
"""

from __future__ import annotations

from certdesk.errors import CertdeskError, Kind

OK = 0
REFUSED = 1  # refused by a rule, or the input is wrong (policy deny, R4, a bad CSR ...)
USAGE = 2  # the command line or a CERTDESK_* setting is wrong
NOT_FOUND = 3  # no such object (or one the caller may not see)
UNAVAILABLE = 4  # the database or SMTP server is down, the schema is not current, a lock held

_BY_KIND = {Kind.NOT_FOUND: NOT_FOUND, Kind.UNAVAILABLE: UNAVAILABLE}


def exit_code(error: CertdeskError) -> int:
    """The exit code of a domain error: not found 3, unavailable 4, any other refusal 1."""
    return _BY_KIND.get(error.kind, REFUSED)


def delivery_code(*, failed: int, retrying: int) -> int:
    """A mail run's code: refused for good 1, still waiting on the SMTP server 4, else 0."""
    if failed:
        return REFUSED
    return UNAVAILABLE if retrying else OK
