"""`hl7bus status` shows what the MLLP connector counted, read from its /metrics: messages
by ACK code, dead letters by error, and messages stored without events by type."""

from __future__ import annotations

from prometheus_client import generate_latest

from hl7bus.errors import ErrorCode
from hl7bus.metrics import ConnectorMetrics
from hl7bus.operators.status import connector_figures, figures_detail


def _counted() -> str:
    metrics = ConnectorMetrics("mllp-a")
    for code, times in (("AA", 7), ("CA", 2), ("AR", 1)):
        for _ in range(times):
            metrics.label(metrics.messages, ack=code).inc()
    metrics.rejected_for(ErrorCode.REQUIRED_FIELD_MISSING).inc()
    for kind in ("QBP", "QBP", "MFN"):
        metrics.stored_without_events(kind)
    return generate_latest(metrics.registry).decode()


def test_the_figures_are_the_connectors_counts_without_the_zeros():
    figures = connector_figures(_counted())
    assert figures == {
        "messages": {"AA": 7, "CA": 2, "AR": 1},
        "dead_letters": {ErrorCode.REQUIRED_FIELD_MISSING.label: 1},
        "without_events": {"QBP": 2, "MFN": 1},
    }
    assert figures_detail(figures) == (
        "messages AA 7, CA 2, AR 1 · dead letters required_field_missing 1 "
        "· without events QBP 2, MFN 1"
    )


def test_a_connector_that_counted_nothing_has_no_detail():
    assert (
        figures_detail(connector_figures(generate_latest(ConnectorMetrics("x").registry).decode()))
        is None
    )
