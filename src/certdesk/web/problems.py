"""RFC 9457 problem documents: the only place domain errors become HTTP statuses.

The OpenAPI document says the same (issue 10): every operation lists, as
``application/problem+json`` with the :class:`Problem` schema, each 4xx (and the 503) it can
answer, through FastAPI's ``responses=``: the router declares what all its routes can answer
(:data:`AUTHENTICATED`, :data:`ANY_ROUTE`), each route what depends on what it does
(``problems(403, 404, 409, 422)``). tests/web/test_api_schema.py holds the document to it.
"""

from __future__ import annotations

import math
import re
import traceback
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from certdesk.core.text import EXCERPT_LENGTH, excerpt, first_bad
from certdesk.errors import CertdeskError
from certdesk.web.paths import is_console_path
from certdesk.web.status import TOO_LARGE, status_of

log = structlog.get_logger("certdesk.web")

PROBLEM = "application/problem+json"

# How long a client should wait before it retries a 503 (RFC 9110 §10.2.3). A lost database
# connection is replaced by the next request (store/db.py), so a short pause is enough.
RETRY_AFTER_SECONDS = 2


class Problem(BaseModel):
    """An RFC 9457 problem document as certdesk sends it, for every refusal and failure."""

    model_config = ConfigDict(extra="allow")  # e.g. ``rule``, ``locked_until``, ``results``

    type: str = Field(
        pattern="^urn:certdesk:problem:", examples=["urn:certdesk:problem:cert.unknown"]
    )
    title: str = Field(min_length=1, examples=["not found"])
    status: int = Field(ge=400, le=599, examples=[404])
    detail: str = Field(examples=["no certificate with serial 1a2b"])
    code: str = Field(
        min_length=1,
        description="Stable machine-readable reason, e.g. `cert.unknown`, `name.not_allowed`",
        examples=["cert.unknown"],
    )


class FieldProblem(BaseModel):
    where: str = Field(description="The field, e.g. `body.names.0` or `query.limit`")
    problem: str


class InvalidRequest(Problem):
    """A request that does not fit the operation's parameters or body schema (422)."""

    errors: list[FieldProblem] = Field(description="Every field that is wrong")


# What each status means on certdesk's API; the problem's ``code`` says exactly why.
_MEANING = {
    400: "Bad input refused by a rule (names R1/R2, CSRs R12, a NUL or lone surrogate in"
    " any text, a malformed identifier ...)",
    401: "No API token, or an unknown, revoked or expired one",
    403: "The caller's role or organization may not do this",
    404: "No such object, or one the caller may not see (both answer alike)",
    409: "The object's state does not allow this now",
    413: "The request body is larger than the limit the problem's ``limit`` names (bytes)",
    422: "The request does not fit the parameters or body schema",
    503: "The database (or another dependency) is not reachable now; retry (Retry-After)",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries: ``application/problem+json`` with the Problem schema."""
    return {
        status: {
            "description": _MEANING[status],
            "content": {
                PROBLEM: {
                    "schema": {
                        "$ref": "#/components/schemas/"
                        + (InvalidRequest if status == 422 else Problem).__name__
                    }
                }
            },
        }
        for status in statuses
    }


# What any route can answer: a NUL or lone surrogate anywhere in the request (400,
# web/inputs.py), the database away (503). Authenticated routers add the 401.
ANY_ROUTE = problems(400, 503)
AUTHENTICATED = problems(400, 401, 503)


def document(app: FastAPI) -> None:
    """Put the problem schemas that :func:`problems` refers to in the app's OpenAPI
    document: they are no route's body or response model, so FastAPI would not list them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()  # FastAPI's own document, from the routes and their models
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in (Problem, InvalidRequest):
                found = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(found.pop("$defs", {}))
                schemas[model.__name__] = found
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _allowed(req: Request, said: str | None) -> str:
    """Every method the resource at the request's path takes: the router names only those of
    the first route it tried for the path, and several routes may share one (GET and POST
    ``/api/v1/certificates``). The API's own description lists them all."""
    app = req.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (
                re.compile("[^/]+".join(map(re.escape, re.split(r"\{[^}/]+\}", path))) + r"\Z"),
                {m.upper() for m in item if m.upper() in _HTTP_METHODS},
            )
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.allow_table = table
    methods = {m.strip() for m in (said or "").split(",") if m.strip()}
    for pattern, taken in table:
        if pattern.match(req.url.path):
            methods |= taken
    return ", ".join(sorted(methods))


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document; see :func:`render`."""
    return render(status, code, title, detail, extra)


def render(
    status: int, code: str, title: str, detail: str, extra: Mapping[Any, Any] | None = None
) -> JSONResponse:
    """An RFC 9457 problem document that is always sendable, whatever it is given.

    Every text is made safe to encode and cut (:func:`_safe_text`); an extra member that is not
    JSON data is left out, and none replaces a standard member. A status outside 400-599 is
    a server fault (500).
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        status = 500
    code = _safe_text(code)
    body: dict[str, Any] = {}
    for key, value in (extra or {}).items():
        if isinstance(key, str) and key not in _STANDARD and _jsonable(value):
            body[_safe_text(key)] = _safe(value, 0)
    body.update(
        {
            "type": f"urn:certdesk:problem:{code}",
            "title": _safe_text(title),
            "status": status,
            "detail": _safe_text(detail),
            "code": code,
        }
    )
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


_STANDARD = frozenset({"type", "title", "status", "detail", "code", "instance"})
# Nesting kept in a problem's extra members (verdict lists are two levels deep).
_MAX_DEPTH = 6
_MAX_TEXT = 2000
# A run without a space or quote that is longer than an excerpt is a value the caller sent
# (a 60 KB "org=", a pasted file), not prose: it is echoed cut (issue 10, finding 5).
_LONG_RUN = re.compile(r"""[^\s'"]{""" + str(EXCERPT_LENGTH + 1) + ",}")


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | tuple | dict | type(None))


def _safe(value: Any, depth: int) -> Any:
    """``value`` as JSON the encoder always accepts (no NaN, no giant integer, no cycle)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _safe_text(value)
    if isinstance(value, int):
        # Python refuses to print integers of more than 4,300 digits; no problem needs one.
        return value if value.bit_length() <= 64 else excerpt(hex(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return None
    if isinstance(value, list | tuple):
        return [_safe(v, depth + 1) for v in value if _jsonable(v)]
    if isinstance(value, dict):
        return {
            _safe_text(str(k)): _safe(v, depth + 1)
            for k, v in value.items()
            if isinstance(k, str | int | float | bool) and _jsonable(v)
        }
    return None


def _safe_text(value: object) -> str:
    """Text for a problem: NUL and lone surrogates escaped, echoed values cut to an excerpt."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_TEXT:
        text = excerpt(text, _MAX_TEXT)
    if first_bad(text) is not None:
        text = "".join(excerpt(ch) for ch in text)
    return _LONG_RUN.sub(lambda m: excerpt(m.group()), text)


def _page(req: Request, status: int, code: str, detail: str) -> Response | None:
    """On a console path, the error as an HTML page in the console's frame; else None."""
    console = getattr(req.app.state, "console", None)
    if console is None or not is_console_path(req.url.path):
        return None
    page: Response = console.error_page(req, status, _safe_text(code), _safe_text(detail))
    if status == 503:
        page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return page


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot answer now (and may again soon).

    * ``OperationalError``: the server went away (psycopg ``AdminShutdown`` after a restart
      or ``pg_terminate_backend``, a refused connection), a statement was cancelled, a
      deadlock or serialization failure, or SQLite's "database is locked";
    * ``InterfaceError``: the driver's connection is closed;
    * any driver error that SQLAlchemy recognised as a disconnect (``connection_invalidated``);
    * the pool could not hand out a connection in time, or could not reconnect.
    """
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def install(app: FastAPI) -> None:
    @app.exception_handler(CertdeskError)
    async def _domain(req: Request, exc: CertdeskError) -> Response:
        status = status_of(exc)
        if (page := _page(req, status, exc.code, exc.detail)) is not None:
            return page
        title = "too large" if status == TOO_LARGE else exc.kind.value.replace("_", " ")
        return render(status, exc.code, title, exc.detail, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(req: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"where": "request", "problem": "invalid"}
        where = first["where"].removeprefix("body.").removeprefix("query.")
        if (page := _page(req, 400, "request.invalid", f"{where}: {first['problem']}")) is not None:
            return page
        return problem(
            422,
            "request.invalid",
            "invalid request",
            f"{first['where']}: {first['problem']}",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> Response:
        answer: Response | None = _page(
            req, exc.status_code, f"http.{exc.status_code}", str(exc.detail)
        )
        if answer is None:
            answer = problem(
                exc.status_code, f"http.{exc.status_code}", str(exc.detail), str(exc.detail)
            )
        # What the router said with it: a 405's Allow (RFC 9110 §15.5.6 requires it).
        answer.headers.update(exc.headers or {})
        if exc.status_code == 405:
            answer.headers["Allow"] = _allowed(req, answer.headers.get("Allow"))
        return answer

    @app.exception_handler(DataError)
    async def _data(req: Request, exc: DataError) -> Response:
        # The database refused a value the caller sent (PostgreSQL: a NUL character in a text
        # field, a number out of range). That is bad input, not a server fault; the driver's
        # message stays in the log.
        log.warning("database refused a value", path=req.url.path, error=str(exc.orig))
        detail = (
            "the request holds a value that cannot be stored (a NUL character or a number"
            " out of range)"
        )
        if (page := _page(req, 400, "request.unstorable", detail)) is not None:
            return page
        return problem(
            400,
            "request.unstorable",
            "invalid request",
            "the request holds a value that cannot be stored (a NUL character or a number"
            " out of range)",
        )

    async def _database(req: Request, exc: Exception) -> Response:
        if not database_unavailable(exc):
            raise exc  # a bug (IntegrityError, ProgrammingError ...): the 500 handler below
        # Not a fault of this code and not the caller's: the database restarted or is busy.
        # A warning with the driver's one-line reason, no traceback; the client retries
        # (Retry-After). SQLAlchemy has invalidated the broken connection, so the next
        # request checks out a fresh one.
        orig = getattr(exc, "orig", None) or exc
        reason = (str(orig).strip().splitlines() or [""])[0]
        log.warning(
            "database unavailable",
            path=req.url.path,
            method=req.method,
            error=f"{type(orig).__name__}: {reason}"[:300],
        )
        detail = "the database is not reachable at the moment; retry shortly"
        if (page := _page(req, 503, "database.unavailable", detail)) is not None:
            return page
        return problem(503, "database.unavailable", "unavailable", detail)

    # DataError (a DBAPIError too) keeps its own handler: Starlette picks the closest class.
    for kind in (DBAPIError, PoolTimeout, DisconnectionError):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> Response:
        # Never show internals; the log has the traceback. It is passed as plain text, not as
        # exc_info: a renderer showing frame locals would print the request scope and with it
        # the caller's bearer token.
        log.error(
            "unhandled error",
            path=req.url.path,
            exception="".join(traceback.format_exception(exc)),
        )
        if (page := _page(req, 500, "internal", "an unexpected error occurred")) is not None:
            return page
        return problem(500, "internal", "internal error", "an unexpected error occurred")
