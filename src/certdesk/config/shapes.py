"""The shapes a setting can have, each with its one parser (STYLE habit 11).

A setting is declared once, in :mod:`certdesk.config.settings`, as a row: its name (the
environment variable is ``CERTDESK_`` + the name upper-cased, unless ``env`` says otherwise),
its shape (the annotation), its default, its bounds and its help text (:func:`setting`).

Whole numbers, durations (whole numbers named ``…_seconds``, ``…_hours``, ``…_days``),
fractions, flags, text and choices are parsed by pydantic itself, and their bounds are the
row's ``ge``/``gt``/``le``/``lt``, and :func:`bounded` caps those a row leaves open. The shapes
below are the ones pydantic cannot read from one environment string by itself (comma-separated
lists, optional paths, case-folded choices) or cannot check (an IP address, IP:port, an http(s)
URL, an SQLAlchemy URL).
Each parser accepts the value as the environment gives it (one string) and as Python code
gives it (``Settings(notice_days=(30, 7))``).
"""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

DAYS_PROBLEM = "notice days must be whole days of at least 1, e.g. 90,60,30"


def setting(
    default: Any,
    description: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    env: str | None = None,
    secret: bool = False,
) -> Any:
    """One row of the settings table: default, bounds, help; ``env`` names a variable that
    is not ``CERTDESK_`` + the attribute; a ``secret`` never appears in a repr."""
    return Field(
        default=default,
        description=description,
        ge=ge,
        gt=gt,
        le=le,
        lt=lt,
        validation_alias=env,
        repr=not secret,
    )


def comma_list(value: str) -> list[str]:
    """A comma-separated setting as it arrives from the environment, items trimmed."""
    return [p.strip() for p in value.split(",") if p.strip()]


def _texts(value: object) -> object:
    return tuple(comma_list(value)) if isinstance(value, str) else value


def _lower_names(value: object) -> object:
    # Environment variables arrive as one string: "ca.gov,california.gov".
    return tuple(p.lower() for p in comma_list(value)) if isinstance(value, str) else value


def _networks(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"not a CIDR range: {item!r}") from None
    return value


def _dates(value: object) -> object:
    if isinstance(value, str):
        parts = comma_list(value)
        return tuple(date.fromisoformat(p) for p in parts) if parts else None
    return value


def _days(value: object) -> object:
    # "90,60,30,14,7,1" from the environment; whole days of at least 1, distinct, the
    # farthest first.
    if isinstance(value, str):
        parts = comma_list(value)
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(DAYS_PROBLEM)
        value = tuple(int(p) for p in parts)
    if isinstance(value, tuple | list):
        if not value or any(isinstance(d, bool) or int(d) < 1 for d in value):
            raise ValueError(DAYS_PROBLEM)
        return tuple(sorted({int(d) for d in value}, reverse=True))
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _named_path(value: object) -> object:
    # An empty variable would be the working directory, which every process then makes
    # private, recursively: refused, so that a stray ``CERTDESK_DATA_DIR=`` changes nothing.
    if isinstance(value, str) and not value.strip():
        raise ValueError("must name a directory; leave the variable unset for the default")
    return value


def _address(value: str) -> str:
    text = value.strip()
    if text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"not an IP address: {text!r}") from None
    return text


def _address_port(value: str) -> str:
    text = value.strip()
    if text:
        host, _, port = text.rpartition(":")
        try:
            ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
            ok = port.isascii() and port.isdigit() and 0 < int(port) < 65536
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"must be an IP address and a port, e.g. 127.0.0.1:53 or [::1]:53, not {text!r}"
            )
    return text


def _web_url(value: str) -> str:
    text = value.strip()
    if text:
        try:
            parts = urlsplit(text)
            host, _port = parts.hostname, parts.port  # a port out of range raises too
        except ValueError as exc:
            raise ValueError(f"not a URL: {text!r} ({exc})") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError(f"must be an http:// or https:// URL with a host, not {text!r}")
    return text


def _database_url(value: str) -> str:
    text = value.strip()
    if text:
        try:
            make_url(text)
        except (ArgumentError, ValueError):
            raise ValueError(
                "not an SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db);"
                " leave it unset for SQLite under the data directory"
            ) from None
    return text


# The most a whole-number setting may be, by the unit its name ends in: ten years of a
# duration (a datetime reaches the year 9999, a timedelta 999,999,999 days), and for a count
# a signed 32-bit integer (every database column holds it).
_MOST_BY_UNIT = {
    "_seconds": 10 * 365 * 24 * 3600,
    "_minutes": 10 * 365 * 24 * 60,
    "_hours": 10 * 365 * 24,
    "_days": 10 * 365,
}
_MOST_COUNT = 2**31 - 1


def bounded(name: str, value: object) -> str | None:
    """What is wrong with the number ``value`` of setting ``name``, if anything."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    most = next((m for unit, m in _MOST_BY_UNIT.items() if name.endswith(unit)), _MOST_COUNT)
    return f"must be at most {most:,}" if value > most else None


def _folded(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# Comma-separated text items ("a@x.gov, b@x.gov"), in the order given.
TextList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_texts)]
# Comma-separated DNS names, lower-cased (R1 suffixes).
NameList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_lower_names)]
# Comma-separated CIDR ranges, each checked.
NetworkList = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(_texts), AfterValidator(_networks)
]
# Comma-separated YYYY-MM-DD dates; empty: None (the default calendar).
DateList = Annotated[tuple[date, ...] | None, NoDecode, BeforeValidator(_dates)]
# Comma-separated whole days of at least 1, distinct, farthest first.
DayList = Annotated[tuple[int, ...], NoDecode, BeforeValidator(_days)]
# A file or directory; empty: None (the setting's documented fallback).
OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_none)]
# A directory that must be named (no empty value: the data directory).
DirPath = Annotated[Path, BeforeValidator(_named_path)]
# One IP address, or empty (the setting is off).
IpAddress = Annotated[str, AfterValidator(_address)]
# IP:port (a DNS resolver), or empty (the system's default).
AddressPort = Annotated[str, AfterValidator(_address_port)]
# An http(s) URL with a host, or empty (the setting's documented fallback).
WebUrl = Annotated[str, AfterValidator(_web_url)]
# An SQLAlchemy URL that parses, or empty (SQLite under the data directory).
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
# A choice people type: spaces trimmed, case folded, before the choice is checked
# (``Folded[Literal["a", "b"]]``).
FOLD = BeforeValidator(_folded)
