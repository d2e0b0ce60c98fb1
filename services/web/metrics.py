"""What the web front door counts, for ``/metrics`` (Prometheus).

Requests are counted by route — the route's template (``/api/v1/patients/{patient_key}``),
never the path asked for, which names a patient — by method and by status; latency is
measured to the start of the answer.  Every series of a known route and status exists from
the start, at 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hl7bus.metrics import LATENCY_BUCKETS

ALARM_KINDS = ("lag", "dead_letters")

UNMATCHED = "unmatched"
"""The route label of a request no route took (a 404 for an unknown path)."""

_CONVERTER = re.compile(r":\w+}")


def route_label(template: str) -> str:
    """A route's template as it is shown: ``/api/v1/patients/{patient_key}/timeline``."""
    return _CONVERTER.sub("}", template)


STATUSES = ("200", "400", "401", "403", "404", "500", "503")


class WebMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "hl7bus_web_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "hl7bus_web_request_seconds",
            "From a request's arrival to the start of its answer, by route",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.kafka_up = Gauge(
            "hl7bus_kafka_reachable",
            "1 while a Kafka broker answers the web front door, 0 while none does",
            registry=r,
        )
        self.kafka_up.set(1)
        self.store_up = Gauge(
            "hl7bus_web_store_reachable",
            "1 when the timeline store answered the last health check, 0 when it did not",
            registry=r,
        )
        self.store_up.set(1)
        self.audit_backlog = Gauge(
            "hl7bus_web_audit_backlog",
            "Access-audit records Kafka has not acknowledged yet",
            registry=r,
        )
        self.audit_refusals = Counter(
            "hl7bus_web_audit_refusals",
            "Requests for patient data refused because the access audit could not be written",
            registry=r,
        )
        self.stream_clients = Gauge(
            "hl7bus_web_stream_clients", "Clients connected to /api/v1/stream", registry=r
        )
        self.alarm = Gauge(
            "hl7bus_web_alarm",
            "1 while an operators' alarm is on (consumer lag, dead letters above their "
            "thresholds), 0 while it is off",
            ["kind"],
            registry=r,
        )
        self.alarms_started = Counter(
            "hl7bus_web_alarms_started",
            "Operators' alarms started, by kind (each start once, however long it lasts)",
            ["kind"],
            registry=r,
        )
        for kind in ALARM_KINDS:
            self.alarm.labels(kind=kind).set(0)
            self.alarms_started.labels(kind=kind)

    def start_at_zero(self, routes: Iterable[tuple[str, str]]) -> None:
        """Create the series of each (method, route) and status, at 0."""
        for method, template in routes:
            route = route_label(template)
            self.latency.labels(route=route, method=method)
            for status in STATUSES:
                self.requests.labels(route=route, method=method, status=status)

    def watch_audit(self, backlog: Callable[[], int]) -> None:
        self.audit_backlog.set_function(lambda: float(backlog()))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route, method=method).observe(seconds)
