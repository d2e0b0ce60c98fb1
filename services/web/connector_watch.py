"""Reading a connector's Prometheus ``/metrics`` every few seconds, for the operators'
figures and charts: the readings of the last hour are kept in memory (the charts show
what happened before the page was opened), and whether the connector answered.

A connector that does not answer, or answers something that is not metrics, is a state
the figures report (``reachable``, ``error``), logged once when it starts and once when it
ends — never an error of the web front door.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass

from hl7bus.logs import fields
from hl7bus.services.web.connector_figures import NotMetrics, Reading, read_metrics

log = logging.getLogger("hl7bus.web.figures")

KEEP_S = 3600.0
TIMEOUT_S = 2.0
MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WatchState:
    url: str
    reachable: bool | None
    """None until the first reading."""
    read_at: float | None
    """When the connector last answered (Unix seconds)."""
    error: str | None
    """Why the last reading failed, in a few words."""


class ConnectorWatch:
    """The readings of one ``/metrics`` URL, every ``interval_s`` while :meth:`run` runs."""

    def __init__(self, url: str, interval_s: float, keep_s: float = KEEP_S) -> None:
        self.url = url
        self.interval_s = interval_s
        self.readings: deque[Reading] = deque(maxlen=max(2, int(keep_s / interval_s) + 1))
        self._reachable: bool | None = None
        self._error: str | None = None

    @property
    def state(self) -> WatchState:
        last = self.readings[-1].at if self.readings else None
        return WatchState(self.url, self._reachable, last, self._error)

    async def run(self) -> None:
        """Read until cancelled."""
        while True:
            await self.read_once()
            await asyncio.sleep(self.interval_s)

    async def read_once(self) -> None:
        try:
            text = await asyncio.to_thread(_fetch, self.url)
            reading = read_metrics(text, time.time())
        except (OSError, NotMetrics, UnicodeDecodeError) as exc:
            self._failed(_why(exc))
            return
        self.readings.append(reading)
        if self._reachable is False:
            log.info("connector metrics readable again", extra=fields(url=self.url))
        self._reachable, self._error = True, None

    def _failed(self, why: str) -> None:
        if self._reachable is not False or why != self._error:
            log.warning("connector metrics unreadable", extra=fields(url=self.url, reason=why))
        self._reachable, self._error = False, why


# The connectors are the bus's own parts: asked directly, never through a proxy of the
# environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _fetch(url: str) -> str:
    with _OPENER.open(url, timeout=TIMEOUT_S) as answer:
        body = answer.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise NotMetrics(f"an answer over {MAX_BYTES // (1024 * 1024)} MiB")
    return body.decode()


def _why(exc: BaseException) -> str:
    """A few words on a failed reading (never the answer's body)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return f"no answer within {TIMEOUT_S:g} s"
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror.lower()
        return str(reason)[:200]
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT_S:g} s"
    if isinstance(exc, NotMetrics | UnicodeDecodeError):
        return "the answer is not Prometheus metrics"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__
