"""Store before ACK when things go wrong: the broker goes away and comes back, the connector
is killed, the connector is told to stop.  Whatever happens, every message a sender got AA
for is on Kafka (its raw copy and every one of its events); duplicates are allowed.

These run against a second single-node Kafka of their own (see ``mllp_broker``), which a
test may stop; the connector still uses the session's schema registry.  The senders send
the project's own messages (``make test``), and the corpus's (``make test-corpus``)."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from cleanup import forget_subjects

from hl7bus.hl7.header import read_header

from mllp_broker import SpareKafka
from mllp_support import (
    SAMPLES,
    Sample,
    Sender,
    Stored,
    good_messages,
    logged,
    metric,
    wait_for,
)
from paths import SOURCES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=SOURCES)
def samples(request: pytest.FixtureRequest) -> list[Sample]:
    """The messages the senders draw from: the project's own, or the corpus's."""
    return SAMPLES[request.param]()


@pytest.fixture(scope="module")
def spare_kafka(tmp_path_factory) -> Iterator[SpareKafka]:
    kafka = SpareKafka(tmp_path_factory.mktemp("spare") / "k")
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()


@pytest.fixture
def spare_bus(spare_kafka: SpareKafka, bus):
    if not spare_kafka.running:  # a failed test may have left it stopped
        spare_kafka.start()
    spare_bus = spare_kafka.bus(bus.registry_url)
    yield spare_bus
    # The topics go with the spare broker's folder; the subjects are in the session's registry.
    forget_subjects(bus.registry_url, [f"{topic}-value" for topic in spare_bus.topics.all()])


def _connector_env(spare_bus, **extra: str) -> dict[str, str]:
    return {**spare_bus.env(), **extra}


def _accepted_count(senders: list[Sender]) -> int:
    return sum(len(s.accepted()) for s in senders)


def _join(senders: list[Sender], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for sender in senders:
        sender.join(max(deadline - time.monotonic(), 0.1))
    for sender in senders:
        assert not sender.is_alive(), "a sender is still sending"
        assert sender.error is None, repr(sender.error)


def _check_all_accepted_are_stored(spare_bus, senders: list[Sender]) -> Stored:
    accepted = {m.control_id: m for s in senders for m in s.accepted()}
    n_events = sum(len(m.event_ids) for m in accepted.values())
    stored = Stored.read(spare_bus, raw=len(accepted), events=n_events)
    stored.check_accepted(spare_bus, accepted.values())
    return stored


def test_broker_down_gives_a_resend_ack_never_AA_and_resent_messages_are_all_stored(
    start_mllp, spare_kafka, spare_bus, samples
):
    """While Kafka is away every message is answered AR with ERR-3 206 and ERR-4 F (E before
    v2.6), the ACK policy's one answer that says "resend it unchanged"; the senders resend
    and, once Kafka is back, every message is stored."""
    connector = start_mllp(**_connector_env(spare_bus, HL7BUS_MLLP_STORE_TIMEOUT_S="3"))
    messages = good_messages("BRK-", 90, samples)
    deadline = time.monotonic() + 90
    senders = [Sender(connector.port, messages[i::3], deadline, pause=0.05) for i in range(3)]
    for sender in senders:
        sender.start()

    wait_for(lambda: _accepted_count(senders) >= 10, 30, "the first AAs")
    spare_kafka.stop()
    down_since = time.monotonic()
    # Each sender's message in flight now fails; wait until every sender has been told to
    # resend a message it sent after the broker had gone.
    wait_for(
        lambda: all(
            any(x.sent_at >= down_since and x.ack.says_resend for x in s.exchanges) for s in senders
        ),
        30,
        "a resend ACK on every connection",
    )
    back_at = time.monotonic()
    spare_kafka.start()
    _join(senders, timeout=deadline - time.monotonic())

    exchanges = [x for s in senders for x in s.exchanges]
    while_down = [x for x in exchanges if x.sent_at >= down_since and x.acked_at <= back_at]
    assert len(while_down) >= 3
    assert {x.ack.code for x in while_down} == {"AR"}, "an AA while Kafka was down"
    for x in while_down:
        v26_on = read_header(x.message.wire).version >= "2.6"  # table 0516 has F from v2.6
        assert b"|206^not stored^HL70357|%s|" % (b"F" if v26_on else b"E") in x.ack.raw
        assert x.ack.says_resend
    assert all(s.finished for s in senders), "a sender never got its AA after the broker came back"
    assert sorted(m.control_id for s in senders for m in s.accepted()) == sorted(
        m.control_id for m in messages
    )

    stored = _check_all_accepted_are_stored(spare_bus, senders)
    resent = {x.message.control_id for x in exchanges if x.ack.says_resend}
    raw_ids = [r.value["message_control_id"] for r in stored.raw]
    assert resent <= set(raw_ids)

    port = connector.metrics_port
    assert metric(port, "hl7bus_store_failures_total") >= len(while_down)
    assert metric(port, "hl7bus_messages_total", ack="AR") >= len(while_down)
    assert logged(connector.log_text(), "message not stored")
    print(
        f"\n{len(while_down)} resend ACKs while down, "
        f"{len(raw_ids) - len(set(raw_ids))} duplicate raw "
        f"records, {len(stored.events)} event records for {len(messages)} messages"
    )


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_healthz_follows_the_broker_and_every_log_line_is_json(start_mllp, spare_kafka, spare_bus):
    connector = start_mllp(**_connector_env(spare_bus))
    port = connector.metrics_port
    assert _health(port) == (200, {**_health(port)[1], "ok": True, "kafka": "reachable"})

    spare_kafka.stop()
    stopped_at = time.monotonic()
    _status, body = wait_for(
        lambda: (answer := _health(port))[0] == 503 and answer, 30, "/healthz to say 503"
    )
    print(f"\nunhealthy {time.monotonic() - stopped_at:.1f} s after the broker stopped")
    assert body["ok"] is False and body["kafka"] == "unreachable"
    assert metric(port, "hl7bus_kafka_reachable") == 0

    spare_kafka.start()
    started_at = time.monotonic()
    wait_for(lambda: _health(port)[0] == 200, 60, "/healthz to say 200 again")
    print(f"healthy {time.monotonic() - started_at:.1f} s after the broker started")
    assert _health(port)[1]["kafka"] == "reachable"
    assert metric(port, "hl7bus_kafka_reachable") == 1

    lines = [line for line in connector.log_text().splitlines() if line.strip()]
    for line in lines:
        assert isinstance(json.loads(line), dict), line  # librdkafka's lines too
    entries = [json.loads(line) for line in lines]
    assert any(e["logger"] == "hl7bus.kafka.librdkafka" for e in entries), lines
    assert logged(connector.log_text(), "kafka unreachable")
    assert logged(connector.log_text(), "kafka reachable")


def test_killed_connector_loses_nothing_it_acknowledged(start_mllp, spare_bus, samples):
    env = _connector_env(spare_bus)
    first = start_mllp(**env)
    messages = good_messages("KIL-", 120, samples)
    deadline = time.monotonic() + 60
    senders = [Sender(first.port, messages[i::4], deadline, pause=0.02) for i in range(4)]
    for sender in senders:
        sender.start()
    wait_for(lambda: _accepted_count(senders) >= 30, 30, "the first AAs")
    first.process.send_signal(signal.SIGKILL)
    assert first.process.wait(10) == -signal.SIGKILL
    acked_before_kill = _accepted_count(senders)
    assert acked_before_kill < len(messages), "the senders finished before the kill"
    start_mllp(**env, HL7BUS_MLLP_PORT=str(first.port))  # same port: the senders reconnect
    _join(senders, timeout=deadline - time.monotonic())

    assert sum(s.connection_errors for s in senders) >= 1
    assert all(s.finished for s in senders)
    _check_all_accepted_are_stored(spare_bus, senders)


def test_sigterm_drains_answered_messages_and_exits_zero(start_mllp, spare_bus, samples):
    drain_timeout = 5.0
    connector = start_mllp(
        **_connector_env(spare_bus, HL7BUS_MLLP_DRAIN_TIMEOUT_S=str(drain_timeout))
    )
    messages = good_messages("DRN-", 400, samples)
    deadline = time.monotonic() + 60
    senders = [
        Sender(connector.port, messages[i::4], deadline, resend=False, pause=0.02) for i in range(4)
    ]
    for sender in senders:
        sender.start()
    wait_for(lambda: _accepted_count(senders) >= 40, 30, "the first AAs")
    stopped_at = time.monotonic()
    connector.process.send_signal(signal.SIGTERM)
    code = connector.process.wait(drain_timeout + 15)
    took = time.monotonic() - stopped_at
    _join(senders, timeout=20)

    assert code == 0, connector.log_text()[-2000:]
    assert took < drain_timeout + 2, f"the connector took {took:.1f} s to stop"
    assert not any(s.finished for s in senders), "the senders finished before the SIGTERM"
    assert all(s.connection_errors == 1 for s in senders)  # each saw its connection close
    _check_all_accepted_are_stored(spare_bus, senders)
    log = connector.log_text()
    assert logged(log, "drained") and logged(log, "stopped", undelivered=0)
    print(f"\nstopped in {took:.2f} s after SIGTERM; {_accepted_count(senders)} ACKed")
