"""Around every request: the access audit is written when the answer starts (and the
answer becomes a 503 if it cannot be), the request is counted and timed by its route, and
a failure nobody expected becomes a 500 in the API's shape — never a traceback.

A pure ASGI middleware, so that streamed answers (``/api/v1/stream``) pass through as they
are sent."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hl7bus.logs import fields
from hl7bus.services.web import errors
from hl7bus.services.web.audit import Access, AuditLog, AuditNote, AuditUnavailable
from hl7bus.services.web.metrics import UNMATCHED, WebMetrics, route_label

log = logging.getLogger("hl7bus.web")


class FrontDoor:
    def __init__(self, app: ASGIApp, *, metrics: WebMetrics, audit: AuditLog) -> None:
        self.app = app
        self.metrics = metrics
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        started = False
        replaced = False

        async def answer(message: Message) -> None:
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                note: AuditNote | None = state.get("audit")
                if note is not None and note.error != "audit_unavailable":
                    try:
                        self.audit.write(_access(scope, note, status))
                    except AuditUnavailable as exc:
                        self.metrics.audit_refusals.inc()
                        replaced = True
                        status = 503
                        await _send_error(send, errors.unavailable("audit_unavailable", str(exc)))
                self.metrics.observe(
                    _route(scope), scope["method"], status, time.perf_counter() - arrived
                )
                if replaced:
                    return
            elif replaced:
                if message.get("more_body"):
                    raise _Replaced  # a stream: stop it
                return
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Exception as exc:
            if not _replaced_only(exc):
                await self._failed(exc, scope, receive, answer, started)

    async def _failed(
        self, exc: BaseException, scope: Scope, receive: Receive, answer: Send, started: bool
    ) -> None:
        route = _route(scope)
        if started:  # the answer has begun: it can only be cut short
            log.error(
                "request failed while answering",
                extra=fields(route=route, error=type(exc).__name__),
            )
            with contextlib.suppress(Exception):
                await answer({"type": "http.response.body", "body": b"", "more_body": False})
            return
        note: AuditNote | None = scope.get("state", {}).get("audit")
        if note is not None:
            note.error = "internal_error"
        await errors.internal(exc, route)(scope, receive, answer)


class _Replaced(Exception):
    """The answer was replaced by a 503: what the endpoint still sends goes nowhere."""


def _replaced_only(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_replaced_only(e) for e in exc.exceptions)
    return isinstance(exc, _Replaced)


def _route(scope: Scope) -> str:
    template = getattr(scope.get("route"), "path", None)
    return route_label(template) if template else UNMATCHED


def _access(scope: Scope, note: AuditNote, status: int) -> Access:
    headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
    query: dict[str, str] = {}
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True):
        query[key] = f"{query[key]},{value}" if key in query else value
    client = scope.get("client")
    agent = headers.get("user-agent")
    return Access(
        user=note.user,
        role=note.role,
        endpoint=_route(scope),
        method=scope["method"],
        path=scope.get("path", ""),
        status=status,
        patient_keys=tuple(note.patient_keys),
        query=query,
        client_address=f"{client[0]}:{client[1]}" if client else None,
        user_agent=agent.decode("latin-1") if agent else None,
        error=note.error if status >= 400 else None,
        entries=note.entries if status < 400 else None,
    )


async def _send_error(send: Send, error: errors.ApiError) -> None:
    content = json.dumps(errors.body(error.code, error.message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
