"""What the API answers when a request cannot be served: always
``{"error": code, "message": sentence}`` with a 4xx (or a 503 while a part it needs is
down), never a traceback; a bug is a 500 of the same shape, logged without the request's
data."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hl7bus.logs import fields

log = logging.getLogger("hl7bus.web")


class ApiError(Exception):
    """An answer other than the data asked for: HTTP status, a short code, one sentence."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message, {"WWW-Authenticate": 'Bearer realm="hl7bus"'})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(code: str, message: str) -> ApiError:
    return ApiError(409, code, message)


def bad_parameter(message: str, code: str = "bad_parameter") -> ApiError:
    return ApiError(400, code, message)


def unavailable(code: str, message: str) -> ApiError:
    return ApiError(503, code, message, {"Retry-After": "5"})


def body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def response(error: ApiError) -> JSONResponse:
    return JSONResponse(body(error.code, error.message), error.status, headers=error.headers)


def internal(exc: BaseException, route: str) -> JSONResponse:
    """A bug: logged with the exception's type and where it was raised (never its text,
    which may quote patient data), answered 500 in the API's shape."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f"{Path(frame[0].filename).name}:{frame[0].lineno}" if frame else "?"
    log.error("internal error", extra=fields(route=route, error=type(exc).__name__, where=where))
    return JSONResponse(
        body("internal_error", "The server failed on this request; the failure is logged."),
        500,
    )


_LIMITS = (("ge", "at least"), ("gt", "more than"), ("le", "at most"), ("lt", "less than"))

NO_NUL = r"^[^\x00]*$"
"""The pattern of every text parameter that reaches the store: no NUL character (which
PostgreSQL's text cannot hold)."""


TIME_PARAMETERS = frozenset({"since", "until"})


def bad_time(name: str) -> ApiError:
    return bad_parameter(
        f"The query parameter {name} must be an ISO 8601 time, e.g. 2026-11-28T10:15-06:00 "
        "or 2026-11-28.",
        "bad_time",
    )


def _validation_error(exc: RequestValidationError) -> ApiError:
    """The answer to the first thing wrong with a request's parameters."""
    errors = exc.errors()
    if errors:
        error = errors[0]
        location = [str(part) for part in error.get("loc", ())]
        if location[-1:] and location[-1] in TIME_PARAMETERS and location[0] == "query":
            return bad_time(location[-1])
    return bad_parameter(_validation_sentence(exc))


def _validation_sentence(exc: RequestValidationError) -> str:
    """One sentence for the first thing wrong with a request's parameters."""
    errors = exc.errors()
    if not errors:
        return "The request's parameters are not valid."
    error: dict[str, Any] = errors[0]
    location = [str(part) for part in error.get("loc", ())]
    where = location[0] if location else ""
    name = location[-1] if len(location) > 1 else "a parameter"
    place = {"query": "query parameter", "path": "path parameter", "header": "header"}.get(
        where, "parameter"
    )
    context = error.get("ctx") or {}
    for bound, words in _LIMITS:
        if bound in context:
            return f"The {place} {name} must be {words} {context[bound]}."
    kind = error.get("type", "")
    if kind == "string_pattern_mismatch" and context.get("pattern") == NO_NUL:
        return f"The {place} {name} must not contain a NUL character."
    if kind == "missing":
        return f"The {place} {name} is required."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"The {place} {name} must be a whole number."
    message = str(error.get("msg") or "is not valid")
    return f"The {place} {name} is not valid: {message[:1].lower() + message[1:]}."


def _noted(request: Request, error: ApiError) -> JSONResponse:
    """The answer, with its code in the request's audit note (when it has one)."""
    note = getattr(request.state, "audit", None)
    if note is not None:
        note.error = error.code
    return response(error)


def install(app: FastAPI) -> None:
    """Every error the API can meet answers in the API's shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _noted(request, exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _noted(request, _validation_error(exc))

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            error = not_found("There is no such endpoint; the API is described at /docs.")
        elif exc.status_code == 405:
            error = ApiError(405, "method_not_allowed", "This endpoint does not take that method.")
        else:
            error = ApiError(exc.status_code, "http_error", "The request cannot be served.")
        return JSONResponse(
            body(error.code, error.message), error.status, headers=dict(exc.headers or {})
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
