"""What stands before the endpoints: a bound on every request body (checked as it arrives, so
an oversized or endless body costs at most its limit in memory) and the bearer token."""

from __future__ import annotations

import hmac
from typing import Callable

from fastapi import Request

from .errors import ApiError, error_response


class BodyLimit:
    """ASGI middleware: a body over `limit_for(path)` bytes is answered 413 before any endpoint
    sees it, by its Content-Length when it has one, else by counting what arrives (chunked)."""

    def __init__(self, app, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await error_response(400, "Content-Length is not a number")(scope, receive, send)
            if int(declared) > limit:
                return await _too_large(limit)(scope, receive, send)
        messages, size = [], 0
        while True:  # read the body whole, bounded, then hand it on
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            size += len(message.get("body", b""))
            if size > limit:
                return await _too_large(limit)(scope, receive, send)
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay():  # the body, then the real channel (a later disconnect comes through)
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)


def _too_large(limit: int):
    return error_response(413, f"the request body is over the limit of {_size(limit)}")


def _size(size: int) -> str:
    return f"{size / 2**20:g} MiB" if size >= 2**20 else f"{size / 2**10:g} KiB"


def bearer_check(token: str | None) -> Callable[[Request], None]:
    """A FastAPI dependency: with a token, refuse (401) a request without `Authorization: Bearer
    TOKEN`; compared in constant time, so the answer's timing does not spell the token."""
    expected = None if token is None else token.encode()

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise ApiError(401, "a valid bearer token is needed (Authorization: Bearer TOKEN)",
                           {"WWW-Authenticate": "Bearer"})

    return check
