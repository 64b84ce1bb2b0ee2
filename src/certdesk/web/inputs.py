"""The characters no request may carry, checked once for every route (issue 10, finding 5).

:func:`checked_characters` is an application-wide dependency: it runs before every other
dependency and before the route's own parameters are validated, and refuses a NUL or a lone
surrogate anywhere in the path, the query string, a JSON body (keys and values, at any depth)
or a form field (:mod:`certdesk.core.text` says why). The refusal is an ordinary domain error,
so the API answers a problem document and the console its error page.

The body is read through the request's own caches (``Request.json``, ``Request.form``), which
the route reads again for free: nothing is parsed twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from certdesk.core.text import check_text, check_tree

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
# Endpoints whose body is raw bytes (an OCSP request, an attached file): never parsed here.
_RAW_BODY: set[Callable[..., Any]] = set()

F = TypeVar("F", bound=Callable[..., Any])


def takes_raw_body(endpoint: F) -> F:
    """Mark a route's endpoint as one that reads the request's raw bytes: whatever their
    Content-Type says (``curl --data-binary`` sends a urlencoded form's), they are not parsed
    as JSON or a form, and not checked for text characters."""
    _RAW_BODY.add(endpoint)
    return endpoint


async def checked_characters(request: Request) -> AsyncIterator[None]:
    """Refuse a request whose path, query or body text holds a NUL or a lone surrogate."""
    check_text(request.url.path, "path")
    for key, value in request.query_params.multi_items():
        check_text(key, "query")
        check_text(value, f"query.{key}")
    form: FormData | None = None
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    try:
        if request.scope.get("endpoint") in _RAW_BODY:
            pass  # bytes, whatever they are labelled: no text in them to check
        elif media_type in _FORMS:
            form = await request.form()
            for key, field in form.multi_items():
                check_text(key, "form")
                if not isinstance(field, UploadFile):  # an uploaded file is bytes, not text
                    check_text(field, f"form.{key}")
        elif _is_json(media_type) and await request.body():
            try:
                body = await request.json()
            except (ValueError, RecursionError):
                body = None  # not JSON: the route's own validation says so
            check_tree(body, "body")
        yield
    finally:
        # FastAPI closes a form it parsed for the route's fields; one parsed only here (a route
        # without form fields) is closed here, and closing twice is harmless.
        if form is not None:
            await form.close()


def _is_json(media_type: str) -> bool:
    # FastAPI reads a body without a content type as JSON too.
    return media_type in ("", "application/json") or media_type.endswith("+json")
