"""The one refusal assertion: a call is refused with the expected error (a domain error, an
RFC 9457 problem document, or a CLI's one ``error:`` line, see :class:`world.cli.Cli`) and,
when a ``state`` reader is given, it changed nothing that reader sees (R15: a refusal writes no
audit event).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import pytest

from certdesk.errors import CertdeskError

PROBLEM = "application/problem+json"

E = TypeVar("E", bound=CertdeskError)


@contextmanager
def unchanged(state: Callable[[], object] | None) -> Iterator[None]:
    """What ``state()`` reads is the same after the block as before (no check when None)."""
    before = state() if state is not None else None
    yield
    if state is not None:
        assert state() == before


def refused(
    exc: type[E],
    code: str,
    call: Callable[..., object],
    *args: object,
    state: Callable[[], object] | None = None,
) -> E:
    """``call(*args)`` raises ``exc`` with the stable ``code``, and ``state()`` did not change
    (``desk.counts``, ``desk.snapshot`` ...); the error, for its ``detail``."""
    with unchanged(state), pytest.raises(exc) as info:
        call(*args)
    assert info.value.code == code, info.value
    return info.value


def assert_problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem document with certdesk's fields, for ``status`` and ``code``."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body: dict[str, Any] = resp.json()
    assert body["code"] == code, body
    assert body["type"] == f"urn:certdesk:problem:{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if status == 401:
        assert resp.headers["www-authenticate"] == "Bearer"
    if status == 503:
        assert int(resp.headers["retry-after"]) > 0  # RFC 9110 §10.2.3
    return body


def refused_request(
    call: Callable[[], httpx.Response],
    status: int,
    code: str,
    *,
    state: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """``call()`` answers the problem document of ``status`` and ``code``, changing nothing
    ``state()`` sees; the document."""
    with unchanged(state):
        body = assert_problem(call(), status, code)
    return body
