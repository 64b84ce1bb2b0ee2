"""Which thread runs a piece of a request's work: the event loop's own, or a worker thread."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


def on_loop_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[bool]:
    """From now on (until the test ends), each call of ``owner.name`` appends to the list it
    returns whether it ran on an event loop's thread (True) or elsewhere (False)."""
    seen: list[bool] = []
    original = getattr(owner, name)

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(asyncio._get_running_loop() is not None)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, watched)
    return seen
