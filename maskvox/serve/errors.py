"""Every refusal as JSON `{"error": "one line"}` with its status: a UserError (bad text, audio,
controls) is 400, a body over its limit 413, a missing token 401, a full queue 503 with
Retry-After. A bug is 500 with a generic line (its traceback goes to the server's log, never
to the client)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import UserError, memory_kind

log = logging.getLogger("maskvox.serve")


class ApiError(Exception):
    """A refusal with its HTTP status and, where it helps the client, headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(" ".join(str(message).split()))
        self.status = status
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


def _validation_line(err: RequestValidationError) -> str:
    """pydantic's list of problems as one line: the first, with where it is."""
    first = err.errors()[0] if err.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "form", "query"))
    message = first.get("msg", "the request is not valid")
    return f"{where}: {message}" if where else message


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError):
        return error_response(err.status, str(err), err.headers)

    @app.exception_handler(UserError)
    async def user_error(_: Request, err: UserError):
        return error_response(400, str(err))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError):
        return error_response(400, _validation_line(err))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException):  # unknown paths (404), wrong methods (405)
        return error_response(err.status_code, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def bug(_: Request, err: Exception):
        kind = memory_kind(err)
        if kind is not None:  # the machine, not the request: try again later, or with less text
            return error_response(503, f"out of {kind}: try shorter text", {"Retry-After": "5"})
        log.exception("request failed")
        return error_response(500, "internal error (see the server's log)")
