"""What a connector's ``/metrics`` and ``/healthz`` say: every labelled series exists at 0
from the start (so a rate of errors has a series to alert on), ``error`` labels are short
codes, and health is false while Kafka is unreachable."""

from __future__ import annotations

import asyncio
import json
import random
import re
import urllib.error
import urllib.request

from connector_support import FakeStore, ingestor
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hl7bus.connectors.files.connector import FileConnector
from hl7bus.connectors.files.delivery import FileDelivery
from hl7bus.connectors.mllp.server import MllpServer
from hl7bus.errors import ErrorCode
from hl7bus.metrics import MAX_TYPES_COUNTED, ConnectorMetrics, serve_http
from hl7bus.mllp.ack import AckCode
from hl7bus.mllp.framing import Frame
from hl7bus.settings import FileSettings, MllpSettings

NOT_HL7 = b"this is not HL7 at all\r"
UNSUPPORTED = (
    b"MSH|^~\\&|APP|FAC|BUS|HOSP|20240115103000||ADT^A01|CTRL-1|P|3.0\rPID|1||1^^^FAC^MR\r"
)
WITHOUT_A_MAPPER = (
    b"MSH|^~\\&|APP|FAC|BUS|HOSP|20240115103000||ZZZ^Z01|CTRL-2|P|2.5\rZNS|1|handover\r"
)


def _samples(metrics: ConnectorMetrics) -> dict[str, list[dict[str, str]]]:
    """Each family's samples' labels, from the text a scrape of /metrics reads."""
    text = generate_latest(metrics.registry).decode()
    return {
        family.name: [sample.labels for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def _values(metrics: ConnectorMetrics, sample_name: str) -> dict[tuple, float]:
    text = generate_latest(metrics.registry).decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == sample_name
    }


def _file_connector(tmp_path, metrics: ConnectorMetrics) -> FileConnector:
    settings = FileSettings(directory=tmp_path)
    delivery = FileDelivery(ingestor(), FakeStore(), metrics, "files:test", 1 << 20)
    return FileConnector(settings, delivery, metrics)


def test_every_series_exists_at_zero_from_the_start(tmp_path) -> None:
    metrics = ConnectorMetrics("mllp:test")
    _file_connector(tmp_path, metrics)
    families = _samples(metrics)
    assert families, "nothing to scrape"
    for name, samples in families.items():
        if name.startswith("hl7bus_sender_"):
            # per sender: no sender is known before its first message
            assert samples == [], f"{name} has a sender before any message"
            continue
        assert samples, f"{name} has no series before its first event"
    assert {n for n in families if n.startswith("hl7bus_sender_")} == {
        "hl7bus_sender_messages",
        "hl7bus_sender_rejected",
        "hl7bus_sender_last_message_timestamp_seconds",
    }

    messages = _values(metrics, "hl7bus_messages_total")
    assert {dict(k)["ack"] for k in messages} == {code.value for code in AckCode}
    assert set(messages.values()) == {0.0}

    rejected = _values(metrics, "hl7bus_rejected_total")
    assert {dict(k)["error"] for k in rejected} >= {
        "not_hl7",
        "unsupported_message_type",
        "unsupported_version",
        "unsupported_processing_id",
        "message_too_large",
        "required_field_missing",
    }
    assert set(rejected.values()) == {0.0}

    timeouts = {dict(k)["kind"] for k in _values(metrics, "hl7bus_mllp_timeouts_total")}
    assert timeouts == {"idle", "read", "frame"}
    assert {dict(k)["folder"] for k in _values(metrics, "hl7bus_files_total")} == {
        "done",
        "error",
    }
    outcomes = _values(metrics, "hl7bus_files_messages_total")
    assert {dict(k)["outcome"] for k in outcomes} == {"translated", "without_events", "dead_letter"}
    assert _values(metrics, "hl7bus_events_total") == {(("connector", "mllp:test"),): 0.0}
    without = _values(metrics, "hl7bus_messages_without_events_total")
    assert without == {(("connector", "mllp:test"), ("type", "other")): 0.0}


def _error_labels(metrics: ConnectorMetrics) -> dict[str, float]:
    return {dict(k)["error"]: v for k, v in _values(metrics, "hl7bus_rejected_total").items() if v}


def test_mllp_error_labels_are_codes_not_sentences() -> None:
    metrics = ConnectorMetrics("mllp:test")
    server = MllpServer(MllpSettings(metrics_port=None), ingestor(), FakeStore(), metrics)
    for raw in (NOT_HL7, UNSUPPORTED):
        asyncio.run(server.handle(Frame(raw, size=len(raw)), "127.0.0.1:40000"))
    assert _error_labels(metrics) == {"not_hl7": 1.0, "unsupported_version": 1.0}


def test_an_oversized_message_is_a_dead_letter_in_either_connector() -> None:
    """Over the size limit, a message goes to the dead-letter topic: both connectors count it
    under ``hl7bus_rejected{error="message_too_large"}`` and as oversized."""
    big = UNSUPPORTED + b"NTE|1||" + b"x" * 2000 + b"\r"
    mllp = ConnectorMetrics("mllp:test")
    server = MllpServer(MllpSettings(metrics_port=None), ingestor(), FakeStore(), mllp)
    asyncio.run(server.handle(Frame(big[:200], oversized=True, size=len(big)), "127.0.0.1:1"))
    files = ConnectorMetrics("files:test")
    delivery = FileDelivery(ingestor(), FakeStore(), files, "files:test", 1000)
    asyncio.run(delivery.deliver("big.hl7", big))
    for metrics in (mllp, files):
        assert _error_labels(metrics) == {"message_too_large": 1.0}
        assert set(_values(metrics, "hl7bus_mllp_oversized_total").values()) == {1.0}
        assert set(_values(metrics, "hl7bus_internal_errors_total").values()) == {0.0}


def test_file_error_labels_are_codes_not_sentences() -> None:
    metrics = ConnectorMetrics("files:test")
    delivery = FileDelivery(ingestor(), FakeStore(), metrics, "files:test", 1000)
    asyncio.run(delivery.deliver("a.hl7", UNSUPPORTED + NOT_HL7.join([b"BHS|^~\\&\r"] * 2)))
    asyncio.run(delivery.deliver("big.hl7", UNSUPPORTED + b"NTE|1||" + b"x" * 2000 + b"\r"))
    labels = _error_labels(metrics)
    assert labels == {"unsupported_version": 1.0, "not_hl7": 1.0, "message_too_large": 1.0}
    for label in _samples(metrics)["hl7bus_rejected"]:
        assert re.fullmatch(r"[a-z0-9_]+", label["error"]), label


def _without_events(metrics: ConnectorMetrics) -> dict[str, float]:
    values = _values(metrics, "hl7bus_messages_without_events_total")
    return {dict(k)["type"]: v for k, v in values.items() if v}


def test_messages_without_events_are_counted_by_type_in_either_connector(tmp_path) -> None:
    qbp = WITHOUT_A_MAPPER.replace(b"ZZZ^Z01", b"QBP^Q22^QBP_Q21")
    mllp = ConnectorMetrics("mllp:test")
    server = MllpServer(MllpSettings(metrics_port=None), ingestor(), FakeStore(), mllp)
    for raw in (WITHOUT_A_MAPPER, qbp, WITHOUT_A_MAPPER):
        asyncio.run(server.handle(Frame(raw, size=len(raw)), "127.0.0.1:40000"))
    files = ConnectorMetrics("files:test")
    connector = _file_connector(tmp_path, files)
    results = asyncio.run(connector.delivery.deliver("q.hl7", WITHOUT_A_MAPPER + qbp + qbp))
    assert [r.message_type for r in results] == ["ZZZ^Z01", "QBP^Q22", "QBP^Q22"]
    assert _without_events(mllp) == {"ZZZ^Z01": 2.0, "QBP^Q22": 1.0}
    assert _without_events(files) == {"ZZZ^Z01": 1.0, "QBP^Q22": 2.0}
    for metrics in (mllp, files):
        assert _error_labels(metrics) == {}
        assert set(_values(metrics, "hl7bus_events_total").values()) == {0.0}
    assert _values(mllp, "hl7bus_messages_total")[(("ack", "AA"), ("connector", "mllp:test"))] == 3


def test_a_sender_inventing_types_cannot_grow_the_series_without_bound() -> None:
    metrics = ConnectorMetrics("mllp:test")
    for n in range(MAX_TYPES_COUNTED + 50):
        metrics.stored_without_events(f"Z{n // 36 % 36:X}{n % 36:X}^Z01")
    metrics.stored_without_events("Z00^Z01")  # one of the first: still its own label
    counted = _without_events(metrics)
    assert len(counted) == MAX_TYPES_COUNTED + 1
    assert counted["other"] == 50 and counted["Z00^Z01"] == 2


def test_every_error_code_has_a_short_label() -> None:
    labels = [code.label for code in ErrorCode]
    assert len(set(labels)) == len(labels)
    assert all(re.fullmatch(r"[a-z0-9_]+", label) for label in labels)


def test_a_file_of_random_bytes_is_one_dead_letter() -> None:
    metrics = ConnectorMetrics("files:test")
    store = FakeStore()
    delivery = FileDelivery(ingestor(), store, metrics, "files:test", 8 << 20)
    noise = random.Random(3).randbytes(1 << 20)
    results = asyncio.run(delivery.deliver("random.bin", noise))
    assert len(results) == 1
    assert results[0].error_code == ErrorCode.NOT_HL7.text
    assert [r.topic for r in store.records] == ["hl7.raw", "hl7.dlq"]
    assert _error_labels(metrics) == {"not_hl7": 1.0}


# -- health ------------------------------------------------------------------------------------


def _get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def _health_over_http(metrics: ConnectorMetrics, health) -> list[tuple[int, dict]]:
    server = await serve_http("127.0.0.1", 0, metrics.registry, health)
    port = server.sockets[0].getsockname()[1]
    try:
        seen = [await asyncio.to_thread(_get, port, "/healthz")]
        metrics.set_kafka_reachable(False)
        seen.append(await asyncio.to_thread(_get, port, "/healthz"))
        metrics.set_kafka_reachable(True)
        seen.append(await asyncio.to_thread(_get, port, "/healthz"))
        return seen
    finally:
        server.close()


def test_healthz_of_the_mllp_connector_follows_kafka() -> None:
    metrics = ConnectorMetrics("mllp:test")
    server = MllpServer(MllpSettings(metrics_port=None), ingestor(), FakeStore(), metrics)
    up, down, again = asyncio.run(_health_over_http(metrics, server.health))
    assert up == (200, {**up[1], "ok": True, "kafka": "reachable"})
    assert down[0] == 503 and down[1]["ok"] is False and down[1]["kafka"] == "unreachable"
    assert again[0] == 200 and again[1]["kafka"] == "reachable"
    assert _values(metrics, "hl7bus_kafka_reachable") == {(("connector", "mllp:test"),): 1.0}


def test_healthz_of_the_file_connector_follows_kafka(tmp_path) -> None:
    metrics = ConnectorMetrics("files:test")
    connector = _file_connector(tmp_path, metrics)
    up, down, again = asyncio.run(_health_over_http(metrics, connector.health))
    assert (up[0], up[1]["kafka"]) == (200, "reachable")
    assert (down[0], down[1]["ok"], down[1]["kafka"]) == (503, False, "unreachable")
    assert again[0] == 200
