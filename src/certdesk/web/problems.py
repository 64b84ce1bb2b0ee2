"""RFC 9457 problem documents: the only place domain errors become HTTP statuses."""

from __future__ import annotations

import traceback
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from certdesk.errors import CertdeskError
from certdesk.web.console.guard import is_console_path
from certdesk.web.status import STATUS

log = structlog.get_logger("certdesk.web")

PROBLEM = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:certdesk:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if _jsonable(v)})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | type(None))


def _page(req: Request, status: int, code: str, detail: str) -> Response | None:
    """On a console path, the error as an HTML page in the console's frame; else None."""
    console = getattr(req.app.state, "console", None)
    if console is None or not is_console_path(req.url.path):
        return None
    page: Response = console.error_page(req, status, code, detail)
    return page


def install(app: FastAPI) -> None:
    @app.exception_handler(CertdeskError)
    async def _domain(req: Request, exc: CertdeskError) -> Response:
        status = STATUS[exc.kind]
        if (page := _page(req, status, exc.code, exc.detail)) is not None:
            return page
        return problem(status, exc.code, exc.kind.value.replace("_", " "), exc.detail, **exc.extra)

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
        if page := _page(req, exc.status_code, f"http.{exc.status_code}", str(exc.detail)):
            return page
        return problem(exc.status_code, f"http.{exc.status_code}", str(exc.detail), str(exc.detail))

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
