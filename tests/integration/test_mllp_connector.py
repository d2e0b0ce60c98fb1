"""A day of messages through the MLLP connector, sent with python-hl7's own ``mllp_send``:
every ACK answers its message, every AA is on Kafka (raw copy and events), every AR/AE is on
the dead-letter topic, and each connection's events keep their order per patient.

The day is made of the project's own messages (``make test``), and of the corpus's
(``make test-corpus``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mllp_support import (
    SAMPLES,
    Expected,
    Stored,
    acks_in,
    day_of_messages,
    group_by,
    log_entries,
    logged,
    metric,
    run_mllp_send,
    wait_for,
)
from paths import SOURCES

pytestmark = pytest.mark.integration

ACCEPTED = {"AA", "CA"}


@dataclass(frozen=True)
class AtLeast:
    """What a day of a source's messages must hold, so that every check has work to do."""

    accepted: int
    rejected: int
    names: int  # patients' family names, looked for in the log


AT_LEAST = {
    "own": AtLeast(accepted=300, rejected=30, names=5),
    "corpus": AtLeast(accepted=300, rejected=100, names=30),
}


def _send_all(port: int, connections: dict[str, list[Expected]], folder: Path) -> None:
    """One ``mllp_send`` process per connection, all at once; each must get one ACK per
    message, in order, answering that message."""
    senders = {
        name: run_mllp_send(port, messages, folder, name) for name, messages in connections.items()
    }
    for name, process in senders.items():
        assert process.wait(timeout=120) == 0, (folder / f"{name}.acks").read_text("latin-1")
    for name, messages in connections.items():
        acks = acks_in((folder / f"{name}.acks").read_bytes())
        assert len(acks) == len(messages), name
        for message, ack in zip(messages, acks, strict=True):
            assert ack.control_id == message.control_id, message.name
            assert ack.code == message.ack, (message.name, ack.raw)


def _check_order(connections: dict[str, list[Expected]], events: list) -> int:
    """Per connection and patient, events sit in one partition in send order; returns how
    many (connection, patient) sequences of two or more messages were checked."""
    checked = 0
    for messages in connections.values():
        position = {m.control_id: n for n, m in enumerate(messages) if m.ack in ACCEPTED}
        mine = [e for e in events if e.value["source"]["message_control_id"] in position]
        for key, records in group_by(mine, lambda r: r.key).items():
            assert len({r.partition for r in records}) == 1, key
            records.sort(key=lambda r: r.offset)
            sent = [
                (position[r.value["source"]["message_control_id"]], r.value["event_index"])
                for r in records
            ]
            assert sent == sorted(sent), f"events of {key!r} out of send order"
            checked += len({n for n, _ in sent}) > 1
    return checked


@pytest.mark.parametrize("source", SOURCES)
def test_a_day_of_messages_on_one_connection_and_on_several(
    source, start_mllp, bus_topics, tmp_path
):
    samples = SAMPLES[source]()
    least = AT_LEAST[source]
    connector = start_mllp()
    # Every message (good, odd and malformed) in one stream, then four senders at once.
    one = {"single": day_of_messages("S-", 330, samples)}
    several = {
        f"parallel{c}": day_of_messages(f"P{c}-", 80, samples, start=c * 80) for c in range(4)
    }
    started = time.monotonic()
    _send_all(connector.port, one, tmp_path)
    _send_all(connector.port, several, tmp_path)
    elapsed = time.monotonic() - started

    connections = {**one, **several}
    sent = [m for messages in connections.values() for m in messages]
    accepted = [m for m in sent if m.ack in ACCEPTED]
    rejected = [m for m in sent if m.ack not in ACCEPTED]
    assert len(accepted) > least.accepted and len(rejected) > least.rejected  # both kinds
    assert {m.ack for m in rejected} >= {"AR", "AE"}

    n_events = sum(len(m.event_ids) for m in accepted)
    stored = Stored.read(bus_topics, raw=len(sent), events=n_events, dlq=len(rejected))
    # Each message once on the raw topic (the producer is idempotent), its events once,
    # each rejected message once on the dead-letter topic.
    assert len(stored.raw) == len(sent)
    assert len(stored.events) == n_events
    assert len(stored.dlq) == len(rejected)
    stored.check_accepted(bus_topics, accepted)
    stored.check_rejected(rejected)
    assert _check_order(connections, stored.events) >= 20

    for record in stored.dlq:  # the DLQ record says which raw copy it came from
        assert record.value["raw_topic"] == bus_topics.topics.raw
        assert record.value["connector"] == "mllp:mllp"

    port = connector.metrics_port
    assert metric(port, "hl7bus_messages_total") == len(sent)
    assert metric(port, "hl7bus_messages_total", ack="AR") == sum(m.ack == "AR" for m in sent)
    assert metric(port, "hl7bus_events_total") == n_events
    assert metric(port, "hl7bus_rejected_total") == len(rejected)
    assert metric(port, "hl7bus_ack_latency_seconds_count") == len(sent)
    wait_for(lambda: metric(port, "hl7bus_mllp_connections") == 0, 5, "every sender gone")
    log = connector.log_text()
    assert len(logged(log, "message rejected")) == len(rejected)
    names = {n for m in accepted for n in m.family_names if len(n) >= 4}
    assert len(names) > least.names
    for entry in log_entries(log):
        line = json.dumps(entry, ensure_ascii=False)
        assert not [n for n in names if n in line], f"patient name in the log: {line}"
    print(
        f"\n{len(sent)} messages on 5 connections in {elapsed:.1f} s "
        f"({len(sent) / elapsed:.0f}/s), {n_events} events, {len(rejected)} rejected"
    )
