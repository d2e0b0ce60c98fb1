"""Per-sender figures of a connector's ``/metrics``: each sender (MSH-3 ``^`` MSH-4, as the
sender profiles match them) with its messages by ACK code, its dead letters by error code
and the time of its last message.  A sender is a label, not data: it is cut short and kept
to printable ASCII, a message without a readable header counts under ``unknown``, and a
peer that invents senders cannot make the series grow without bound."""

from __future__ import annotations

import asyncio
import logging
import time

from connector_support import FakeStore, ingestor
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hl7bus.connectors.files.delivery import FileDelivery
from hl7bus.connectors.mllp.server import MllpServer
from hl7bus.errors import ErrorCode
from hl7bus.hl7.header import Header, read_header
from hl7bus.metrics import (
    MAX_SENDER_CHARS,
    MAX_SENDERS,
    NO_ACK,
    ConnectorMetrics,
    sender_label,
)
from hl7bus.mllp.ack import AckCode
from hl7bus.mllp.framing import Frame
from hl7bus.settings import MllpSettings

ADMIT = (
    b"MSH|^~\\&|ADMITWISE|RBGH|HL7BUS|RBGH|20250114083012-0600||ADT^A01^ADT_A01|ADM-1|P|2.5.1\r"
    b"EVN|A01|20250114083000-0600\r"
    b"PID|1||RB1^^^RBGH^MR||DOE^JANE||19800101|F\r"
    b"PV1|1|I|W1^101^A\r"
)
# MSH-3 and MSH-4 as HD with a universal id: the namespace id is the sender.
RESULT = (
    b"MSH|^~\\&|LABSTAR^1.2.3^ISO|NORTHWIND^2.16.840.1.113883.19^ISO|HL7BUS|NW|20250114083012"
    b"||ORU^R01^ORU_R01|LAB-1|P|3.0\r"
    b"PID|1||NW1^^^NORTHWIND^MR\r"
)
NOT_HL7 = b"this is not HL7 at all\r"


def _values(metrics: ConnectorMetrics, sample_name: str) -> dict[tuple, float]:
    text = generate_latest(metrics.registry).decode()
    return {
        tuple(sorted((k, v) for k, v in sample.labels.items() if k != "connector")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == sample_name
    }


def _mllp(metrics: ConnectorMetrics) -> MllpServer:
    return MllpServer(MllpSettings(metrics_port=None), ingestor(), FakeStore(), metrics)


def test_each_sender_is_counted_by_ack_code_and_dead_letters_by_error_over_mllp() -> None:
    metrics = ConnectorMetrics("mllp:test")
    server = _mllp(metrics)
    before = time.time()
    for raw in (ADMIT, ADMIT, RESULT, NOT_HL7):
        asyncio.run(server.handle(Frame(raw, size=len(raw)), "127.0.0.1:40000"))
    after = time.time()

    assert _values(metrics, "hl7bus_sender_messages_total") == {
        (("ack", "AA"), ("sender", "ADMITWISE^RBGH")): 2.0,
        (("ack", "AR"), ("sender", "LABSTAR^NORTHWIND")): 1.0,
        (("ack", "AR"), ("sender", "unknown")): 1.0,
    }
    assert _values(metrics, "hl7bus_sender_rejected_total") == {
        (("error", "unsupported_version"), ("sender", "LABSTAR^NORTHWIND")): 1.0,
        (("error", "not_hl7"), ("sender", "unknown")): 1.0,
    }
    last = _values(metrics, "hl7bus_sender_last_message_timestamp_seconds")
    assert set(last) == {
        (("sender", "ADMITWISE^RBGH"),),
        (("sender", "LABSTAR^NORTHWIND"),),
        (("sender", "unknown"),),
    }
    assert all(before <= t <= after for t in last.values())


def test_an_oversized_frame_counts_under_the_sender_its_first_bytes_name() -> None:
    metrics = ConnectorMetrics("mllp:test")
    big = ADMIT + b"NTE|1||" + b"x" * 5000 + b"\r"
    frame = Frame(big[:200], oversized=True, size=len(big))
    asyncio.run(_mllp(metrics).handle(frame, "127.0.0.1:1"))
    assert _values(metrics, "hl7bus_sender_rejected_total") == {
        (("error", "message_too_large"), ("sender", "ADMITWISE^RBGH")): 1.0
    }
    (((_, code), _sender),) = _values(metrics, "hl7bus_sender_messages_total")
    assert code in ("AR", "CR")


def test_the_files_connector_counts_each_sender_without_an_ack_code() -> None:
    metrics = ConnectorMetrics("files:test")
    delivery = FileDelivery(ingestor(), FakeStore(), metrics, "files:test", 1 << 20)
    asyncio.run(delivery.deliver("day.hl7", ADMIT + RESULT + ADMIT))
    assert _values(metrics, "hl7bus_sender_messages_total") == {
        (("ack", NO_ACK), ("sender", "ADMITWISE^RBGH")): 2.0,
        (("ack", NO_ACK), ("sender", "LABSTAR^NORTHWIND")): 1.0,
    }
    assert _values(metrics, "hl7bus_sender_rejected_total") == {
        (("error", "unsupported_version"), ("sender", "LABSTAR^NORTHWIND")): 1.0
    }
    small = FileDelivery(ingestor(), FakeStore(), metrics, "files:test", 100)
    asyncio.run(small.deliver("big.hl7", ADMIT))
    rejected = _values(metrics, "hl7bus_sender_rejected_total")
    assert rejected[(("error", "message_too_large"), ("sender", "ADMITWISE^RBGH"))] == 1.0


def test_a_sender_is_msh3_and_msh4_as_the_profiles_match_them() -> None:
    assert sender_label(read_header(ADMIT)) == "ADMITWISE^RBGH"
    assert sender_label(read_header(RESULT)) == "LABSTAR^NORTHWIND"
    assert sender_label(Header(sending_application="BEDBOARD")) == "BEDBOARD^"
    assert sender_label(Header(sending_facility="RBGH")) == "^RBGH"


def test_no_readable_header_is_the_unknown_sender() -> None:
    for raw in (NOT_HL7, b"", b"MSH", b"MSH|^~\\&|||||||ADT^A01|X|P|2.5\r"):
        assert sender_label(read_header(raw)) == "unknown", raw


def test_a_sender_label_is_short_printable_ascii() -> None:
    odd = Header(sending_application="LAB\x00\x1b[31mSTAR\u00e9\u2028", sending_facility="N\tW\r")
    assert sender_label(odd) == "LAB[31mSTAR^NW"
    long = Header(sending_application="A" * 500, sending_facility="B" * 500)
    assert len(sender_label(long)) == MAX_SENDER_CHARS
    only_noise = Header(sending_application="\u00e9\u00e8", sending_facility="\x01")
    assert sender_label(only_noise) == "unknown"


def test_a_peer_inventing_senders_cannot_grow_the_series_without_bound(caplog) -> None:
    metrics = ConnectorMetrics("mllp:test")
    with caplog.at_level(logging.WARNING, logger="hl7bus.metrics"):
        for n in range(MAX_SENDERS + 50):
            metrics.answered(AckCode.ACCEPT, Header(sending_application=f"APP{n}"))
            metrics.dead_lettered(ErrorCode.NOT_HL7, Header(sending_application=f"APP{n}"))
        metrics.answered(AckCode.ACCEPT, Header(sending_application="APP0"))  # one of the first
    messages = {
        dict(k)["sender"]: v for k, v in _values(metrics, "hl7bus_sender_messages_total").items()
    }
    assert len(messages) == MAX_SENDERS + 1
    assert messages["other"] == 50 and messages["APP0^"] == 2
    rejected = {dict(k)["sender"] for k in _values(metrics, "hl7bus_sender_rejected_total")}
    assert len(rejected) == MAX_SENDERS + 1 and "other" in rejected
    last = _values(metrics, "hl7bus_sender_last_message_timestamp_seconds")
    assert len(last) == MAX_SENDERS + 1
    said = [r for r in caplog.records if r.name == "hl7bus.metrics"]
    assert len(said) == 1, "the limit is logged once"
    assert "APP" not in said[0].getMessage()
    # the connector's own totals count every message, whatever its sender
    assert _values(metrics, "hl7bus_messages_total")[(("ack", "AA"),)] == MAX_SENDERS + 51


def test_unknown_and_other_do_not_use_up_the_senders_counted() -> None:
    metrics = ConnectorMetrics("mllp:test")
    for _ in range(3):
        metrics.answered(AckCode.REJECT, Header())
    for n in range(MAX_SENDERS):
        metrics.answered(AckCode.ACCEPT, Header(sending_facility=f"F{n}"))
    messages = {dict(k)["sender"] for k in _values(metrics, "hl7bus_sender_messages_total")}
    assert "other" not in messages and "unknown" in messages
    assert len(messages) == MAX_SENDERS + 1
