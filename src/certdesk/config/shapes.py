"""The shapes a setting can have, each with its one parser (STYLE habit 11).

A setting is declared once, in :mod:`certdesk.config.settings`, as a row: its name (the
environment variable is ``CERTDESK_`` + the name upper-cased, unless ``env`` says otherwise),
its shape (the annotation), its default, its bounds and its help text (:func:`setting`).

Whole numbers, durations (whole numbers named ``…_seconds``, ``…_hours``, ``…_days``),
fractions, flags, text and choices are parsed by pydantic itself, and their bounds are the
row's ``ge``/``gt``/``le``/``lt``. The shapes below are the ones pydantic cannot read from one
environment string by itself: comma-separated lists, optional paths, case-folded choices.
Each parser accepts the value as the environment gives it (one string) and as Python code
gives it (``Settings(notice_days=(30, 7))``).
"""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode

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
# A choice people type: spaces trimmed, case folded, before the choice is checked
# (``Folded[Literal["a", "b"]]``).
FOLD = BeforeValidator(_folded)
