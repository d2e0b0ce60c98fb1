"""The connectors' figures of the dashboard, read from the Prometheus text that a connector
serves (hl7bus.metrics, the connector's own code), and the rates between two readings:
messages/s, ACK codes/s, dead letters/s, the mean ACK latency of the messages in between,
and a connector restarted between two readings (its counters from 0 again)."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from hl7bus.errors import ErrorCode
from hl7bus.metrics import ConnectorMetrics
from hl7bus.services.web.connector_figures import (
    ConnectorReading,
    NotMetrics,
    Reading,
    rates,
    read_metrics,
    series,
)


def served(metrics: ConnectorMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def answered(metrics: ConnectorMetrics, ack: str, count: int, latency_s: float) -> None:
    for _ in range(count):
        metrics.label(metrics.messages, ack=ack).inc()
        metrics.label(metrics.ack_latency).observe(latency_s)


def test_a_new_connector_reads_as_every_ack_code_at_zero():
    reading = read_metrics(served(ConnectorMetrics("mllp:north")), at=100.0)
    (connector,) = reading.connectors
    assert connector.connector == "mllp:north"
    assert dict(connector.acks) == dict.fromkeys(["AA", "AE", "AR", "CA", "CE", "CR"], 0.0)
    assert connector.messages == 0 and connector.dead_letters == 0
    assert connector.mean_latency_ms is None
    assert connector.kafka_reachable is True
    assert reading.at == 100.0


def test_what_a_connector_counted_is_read_back():
    metrics = ConnectorMetrics("mllp:north")
    answered(metrics, "AA", 3, 0.004)
    answered(metrics, "AE", 1, 0.008)
    metrics.dead_lettered(ErrorCode.UNSUPPORTED_VERSION)
    metrics.label(metrics.events).inc(5)
    metrics.label(metrics.connections).set(2)
    metrics.set_kafka_reachable(False)
    (connector,) = read_metrics(served(metrics), at=0.0).connectors
    assert (connector.acks["AA"], connector.acks["AE"], connector.messages) == (3, 1, 4)
    assert connector.rejected[ErrorCode.UNSUPPORTED_VERSION.label] == 1
    assert connector.dead_letters == 1
    assert (connector.events, connector.connections) == (5, 2)
    assert connector.mean_latency_ms == pytest.approx(5.0)
    assert connector.kafka_reachable is False


def test_several_connectors_in_one_answer_and_other_series_left_aside():
    text = served(ConnectorMetrics("mllp:a")) + served(ConnectorMetrics("files:b"))
    text += "# TYPE something_else gauge\nsomething_else 3.0\n"
    text += '# TYPE hl7bus_web_stream_clients gauge\nhl7bus_web_stream_clients{connector="x"} 1\n'
    reading = read_metrics(text, at=0.0)
    assert [c.connector for c in reading.connectors] == ["files:b", "mllp:a"]
    assert reading.connector("mllp:a") is not None and reading.connector("nope") is None


@pytest.mark.parametrize("text", ["<html>not found</html>", 'hl7bus_messages_total{ack="AA" 1'])
def test_text_that_is_not_metrics_is_refused(text):
    with pytest.raises(NotMetrics):
        read_metrics(text, at=0.0)


def test_rates_between_two_readings():
    metrics = ConnectorMetrics("mllp:north")
    answered(metrics, "AA", 10, 0.002)
    before = read_metrics(served(metrics), at=1000.0)
    answered(metrics, "AA", 8, 0.010)
    answered(metrics, "AE", 2, 0.020)
    metrics.dead_lettered(ErrorCode.DATA_TYPE)
    metrics.dead_lettered(ErrorCode.DATA_TYPE)
    after = read_metrics(served(metrics), at=1002.0)
    (point,) = series([before, after], "mllp:north")
    assert point.at == 1002.0
    assert point.messages_per_s == pytest.approx(5.0)  # 10 messages in 2 s
    assert point.acks_per_s["AA"] == pytest.approx(4.0)
    assert point.acks_per_s["AE"] == pytest.approx(1.0)
    assert point.acks_per_s["AR"] == 0
    assert point.dead_letters_per_s == pytest.approx(1.0)
    # the mean of the ten answered in between: (8 x 10 ms + 2 x 20 ms) / 10, not of all 20
    assert point.ack_latency_ms == pytest.approx(12.0)


def test_no_message_in_between_is_rate_zero_and_no_latency():
    reading = read_metrics(served(ConnectorMetrics("mllp:north")), at=0.0)
    later = Reading(5.0, reading.connectors)
    (point,) = series([reading, later], "mllp:north")
    assert point.messages_per_s == 0 and point.ack_latency_ms is None


def test_a_restarted_connector_counts_from_zero_again():
    before = ConnectorReading(
        "mllp:north", acks={"AA": 100.0}, latency_sum=1.0, latency_count=100.0
    )
    after = ConnectorReading("mllp:north", acks={"AA": 4.0}, latency_sum=0.02, latency_count=4.0)
    point = rates(before, after, seconds=2.0, at=10.0)
    assert point.messages_per_s == pytest.approx(2.0), "all 4 are new, never negative"
    assert point.ack_latency_ms == pytest.approx(5.0)


def test_series_skip_readings_without_the_connector_or_out_of_order():
    one = read_metrics(served(ConnectorMetrics("mllp:north")), at=10.0)
    empty = Reading(12.0)
    again = Reading(14.0, one.connectors)
    same_time = Reading(14.0, one.connectors)
    points = series([one, empty, again, same_time, Reading(16.0, one.connectors)], "mllp:north")
    assert [p.at for p in points] == [16.0]
    with pytest.raises(ValueError):
        rates(one.connectors[0], one.connectors[0], seconds=0, at=1.0)
