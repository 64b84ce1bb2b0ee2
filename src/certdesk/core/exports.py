"""Tables for people's spreadsheets: CSV with Pacific times (R19), and the columns of each
export. JSON exports keep the API's own shape (UTC ISO 8601); only CSV is for people."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum

from certdesk.core.wall_clock import pacific_timestamp
from certdesk.errors import InvalidInput

__all__ = [
    "AUDIT_COLUMNS",
    "CASE_COLUMNS",
    "CERT_COLUMNS",
    "ExportFormat",
    "parse_format",
    "to_csv",
]

MAX_ROWS = 50_000  # one export; a filter narrows a larger one


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


def parse_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value.strip().lower())
    except ValueError:
        raise InvalidInput("export.format", "the format is csv or json") from None


# (column heading, key of the row) — headings are what a person reads in the spreadsheet.
CERT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Serial", "serial"),
    ("Organization", "organization"),
    ("Names", "names"),
    ("Status", "status"),
    ("Valid from (Pacific)", "not_before"),
    ("Expires (Pacific)", "not_after"),
    ("Revoked (Pacific)", "revoked_at"),
    ("Revocation reason", "revocation_reason"),
    ("Key", "key_type"),
    ("Platform", "platform"),
    ("Issuer", "issuer"),
    ("Requested by", "requested_by"),
)
CASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Case", "number"),
    ("Organization", "organization"),
    ("Type", "type"),
    ("State", "state"),
    ("Title", "title"),
    ("Opened by", "opened_by"),
    ("Opened (Pacific)", "created_at"),
    ("Target date", "target_date"),
    ("Due date", "due_date"),
    ("Overdue", "overdue"),
    ("Expedite", "expedite"),
    ("Certificates", "submittals"),
)
AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Event", "seq"),
    ("Time (Pacific)", "at"),
    ("Who", "who"),
    ("What", "what"),
    ("Action", "action"),
    ("Object type", "object_type"),
    ("Object", "object_id"),
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return pacific_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " ".join(_cell(v) for v in value)
    text = str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: keep it text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, object]]) -> str:
    """CSV (RFC 4180, CRLF) with a heading row; times as ``2027-06-21 17:00 PDT``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([heading for heading, _ in columns])
    for row in rows:
        writer.writerow([_cell(row.get(key)) for _, key in columns])
    return out.getvalue()
