"""The connectors' figures of the dashboard, read from the Prometheus text that a connector
serves (hl7bus.metrics, the connector's own code), and the rates between two readings:
messages/s, ACK codes/s, dead letters/s, the mean ACK latency of the messages in between,
and a connector restarted between two readings (its counters from 0 again); per sender, its
messages, dead letters and last message, and whether it stands out: every message of the
last minutes rejected, or silent for long."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest

from hl7bus.errors import ErrorCode
from hl7bus.hl7.header import Header
from hl7bus.metrics import ConnectorMetrics
from hl7bus.mllp.ack import AckCode
from hl7bus.services.web.connector_figures import (
    ConnectorReading,
    NotMetrics,
    Reading,
    SenderFigures,
    SenderReading,
    SenderState,
    rates,
    read_metrics,
    sender_figures,
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
    metrics.dead_lettered(ErrorCode.UNSUPPORTED_VERSION, Header())
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
    metrics.dead_lettered(ErrorCode.DATA_TYPE, Header())
    metrics.dead_lettered(ErrorCode.DATA_TYPE, Header())
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


# -- per sender ---------------------------------------------------------------------------------

NOW = 1_800_000_000.0


def from_sender(metrics: ConnectorMetrics, sender: str, ack: str, *errors: ErrorCode) -> None:
    """One message of ``sender`` (``APP^FACILITY``) answered ``ack``, dead-lettered with
    each of ``errors``."""
    application, _, facility = sender.partition("^")
    header = Header(sending_application=application, sending_facility=facility)
    metrics.answered(AckCode(ack), header)
    for code in errors:
        metrics.dead_lettered(code, header)


def test_each_senders_figures_are_read_back():
    metrics = ConnectorMetrics("mllp:north")
    before = time.time()
    from_sender(metrics, "LABSTAR^NORTHWIND", "AA")
    from_sender(metrics, "LABSTAR^NORTHWIND", "AA")
    from_sender(metrics, "LABSTAR^NORTHWIND", "AR", ErrorCode.UNSUPPORTED_VERSION)
    from_sender(metrics, 'BED"BOARD\\^RBGH', "CE", ErrorCode.DATA_TYPE)
    metrics.answered(AckCode.REJECT, Header())
    (connector,) = read_metrics(served(metrics), at=0.0).connectors
    assert [s.sender for s in connector.senders] == [
        'BED"BOARD\\^RBGH',
        "LABSTAR^NORTHWIND",
        "unknown",
    ]
    lab = connector.sender("LABSTAR^NORTHWIND")
    assert lab is not None
    assert dict(lab.acks) == {"AA": 2.0, "AR": 1.0}
    assert (lab.messages, lab.error_acks, lab.dead_letters) == (3, 1, 1)
    assert dict(lab.rejected) == {ErrorCode.UNSUPPORTED_VERSION.label: 1.0}
    assert lab.last_message_at is not None and before <= lab.last_message_at <= time.time()
    bed = connector.sender('BED"BOARD\\^RBGH')
    assert bed is not None and dict(bed.rejected) == {"data_type": 1.0}
    assert connector.sender("unknown").rejected == {}  # type: ignore[union-attr]
    # the connector's own totals are unchanged by the per-sender series
    assert (connector.acks["AA"], connector.acks["AR"], connector.dead_letters) == (2, 2, 2)


def test_a_connector_before_its_first_message_has_no_senders():
    (connector,) = read_metrics(served(ConnectorMetrics("mllp:north")), at=0.0).connectors
    assert connector.senders == ()


def sender_reading(at: float, **senders: tuple[dict, dict, float | None]) -> Reading:
    return Reading(
        at,
        (
            ConnectorReading(
                "mllp:north",
                acks={"AA": 1.0},
                senders=tuple(
                    SenderReading(name, acks, rejected, last)
                    for name, (acks, rejected, last) in sorted(senders.items())
                ),
            ),
        ),
    )


def figures_by_sender(readings: list[Reading], now: float = NOW) -> dict[str, SenderFigures]:
    found = sender_figures(readings, window_s=300, silent_after_s=3600, now=now)
    return {f.sender.sender: f for f in found}


def test_a_sender_whose_every_message_of_the_last_minutes_was_rejected_stands_out():
    readings = [
        sender_reading(NOW - 600, lab=({"AA": 10.0}, {}, NOW - 650)),
        sender_reading(NOW - 290, lab=({"AA": 10.0}, {}, NOW - 650)),
        # in the last five minutes: three more, each an AR and a dead letter
        sender_reading(NOW, lab=({"AA": 10.0, "AR": 3.0}, {"data_type": 3.0}, NOW - 5)),
    ]
    lab = figures_by_sender(readings)["lab"]
    assert (lab.recent_messages, lab.recent_rejections) == (3, 3)
    assert lab.state is SenderState.REJECTING
    assert "rejected" in lab.why and "5 min" in lab.why
    assert lab.seconds_since_last == pytest.approx(5)


def test_a_sender_with_one_message_accepted_in_the_last_minutes_does_not():
    readings = [
        sender_reading(NOW - 300, lab=({"AR": 7.0}, {"data_type": 7.0}, NOW - 400)),
        sender_reading(NOW, lab=({"AA": 1.0, "AR": 9.0}, {"data_type": 9.0}, NOW - 1)),
    ]
    lab = figures_by_sender(readings)["lab"]
    assert (lab.recent_messages, lab.recent_rejections) == (3, 2)
    assert lab.state is SenderState.OK and lab.why == ""


def test_a_dead_letter_answered_aa_by_a_profiles_override_is_still_a_rejection():
    readings = [
        sender_reading(NOW - 300),
        sender_reading(NOW, lab=({"AA": 2.0}, {"not_hl7": 2.0}, NOW - 1)),
    ]
    assert figures_by_sender(readings)["lab"].state is SenderState.REJECTING


def test_a_sender_silent_for_long_stands_out():
    readings = [
        sender_reading(
            NOW - 5, bedboard=({"AA": 40.0}, {}, NOW - 3700), lab=({"AA": 1.0}, {}, NOW - 3500)
        ),
        sender_reading(
            NOW, bedboard=({"AA": 40.0}, {}, NOW - 3700), lab=({"AA": 1.0}, {}, NOW - 3500)
        ),
    ]
    found = figures_by_sender(readings)
    assert found["bedboard"].state is SenderState.SILENT
    assert "1 h" in found["bedboard"].why
    assert found["bedboard"].recent_messages == 0
    assert found["lab"].state is SenderState.OK


def test_no_unreadable_message_for_long_is_no_silence():
    quiet = ({"AR": 2.0}, {"not_hl7": 2.0}, NOW - 7200)
    readings = [sender_reading(NOW - 5, unknown=quiet, other=quiet)]
    readings.append(sender_reading(NOW, unknown=quiet, other=quiet))
    found = figures_by_sender(readings)
    assert found["unknown"].state is found["other"].state is SenderState.OK


def test_with_a_single_reading_nothing_is_known_of_the_last_minutes():
    (lab,) = sender_figures(
        [sender_reading(NOW, lab=({"AR": 4.0}, {"data_type": 4.0}, NOW - 1))],
        window_s=300,
        silent_after_s=3600,
        now=NOW,
    )
    assert (lab.recent_messages, lab.recent_rejections) == (None, None)
    assert lab.state is SenderState.OK


def test_a_new_sender_or_a_restarted_connector_counts_all_it_has_as_recent():
    readings = [
        sender_reading(NOW - 300, lab=({"AA": 50.0}, {}, NOW - 301)),
        sender_reading(
            NOW, lab=({"AR": 2.0}, {"data_type": 2.0}, NOW - 1), new=({"CR": 1.0}, {}, NOW - 2)
        ),
    ]
    found = figures_by_sender(readings)
    assert (found["lab"].recent_messages, found["lab"].recent_rejections) == (2, 2)
    assert found["lab"].state is SenderState.REJECTING
    assert (found["new"].recent_messages, found["new"].recent_rejections) == (1, 1)
