"""The declarative base every table of :mod:`certdesk.store.models` is declared on."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
