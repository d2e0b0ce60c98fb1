"""A day of messages through the MLLP connector, sent with python-hl7's own ``mllp_send``:
every ACK answers its message, every AA is on Kafka (raw copy and events), every AR/AE is on
the dead-letter topic, and each connection's events keep their order per patient.  Then
what no day may lack: every well-formed message accepted, those of a type without a mapper
too, and each code of the ACK policy where the policy says.

The day is made of the project's own messages (``make test``), and of the corpus's
(``make test-corpus``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus_expected import BROKEN, WITHOUT_EVENTS

from hl7bus.hl7 import split_messages
from hl7bus.hl7.header import read_header
from hl7bus.ingest.records import dead_letter_id

from mllp_support import (
    SAMPLES,
    Expected,
    Peer,
    Stored,
    acks_in,
    day_of_messages,
    group_by,
    log_entries,
    logged,
    metric,
    patient_message,
    run_mllp_send,
    set_control_id,
    wait_for,
)
from paths import CORPUS, OWN_MESSAGES, SOURCES

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


# -- nothing well-formed turned away -------------------------------------------------------------

WITHOUT_A_MAPPER = (
    "without-events-ack-qbp-rsp-mfn-zzz.hl7",  # ACK^R01, QBP^Q22 (in enhanced mode), RSP, MFN, ZZZ
    "qry-a19-query-without-events.hl7",
    "adt-a17-swap-without-events.hl7",
)


def test_well_formed_messages_without_a_mapper_are_stored_and_accepted(start_mllp, bus_topics):
    """An ACK, a query and its answer, a master file update, a vendor's Z-type and an ADT
    trigger without a mapper: each is answered AA (CA in enhanced mode) with no ERR, is on
    the raw topic, and gives no event and no dead letter; the metric counts them by type."""
    connector = start_mllp()
    messages = [
        message
        for name in WITHOUT_A_MAPPER
        for message in split_messages((OWN_MESSAGES / name).read_bytes())
    ]
    assert len(messages) == 7
    with Peer(connector.port) as peer:
        for message in messages:
            header = read_header(message)
            ack = peer.send(message)
            expected = "CA" if header.enhanced else "AA"
            assert (ack.code, ack.control_id, ack.condition) == (expected, header.control_id, "")
            assert b"\rERR|" not in ack.raw

    stored = Stored.read(bus_topics, raw=len(messages))
    assert sorted(r.value["raw"] for r in stored.raw) == sorted(messages)
    assert stored.events == [] and stored.dlq == []
    kinds = {
        r.value["message_control_id"]: f"{r.value['message_type']}^{r.value['trigger_event']}"
        for r in stored.raw
    }
    assert kinds["NE-QBP-0001"] == "QBP^Q22" and kinds["NE-A17-0001"] == "ADT^A17"

    port = connector.metrics_port
    counted = {
        kind: metric(port, "hl7bus_messages_without_events_total", type=kind)
        for kind in ("ACK^R01", "QBP^Q22", "RSP^K22", "MFN^M02", "ZZZ^Z01", "QRY^A19", "ADT^A17")
    }
    assert counted == dict.fromkeys(counted, 1.0)
    assert metric(port, "hl7bus_messages_total", ack="AA") == 6
    assert metric(port, "hl7bus_messages_total", ack="CA") == 1
    assert metric(port, "hl7bus_rejected_total") == 0
    assert metric(port, "hl7bus_events_total") == 0
    stored_log = logged(connector.log_text(), "message stored without events")
    assert {(e["control_id"], e["type"]) for e in stored_log} >= {("NE-ZZZ-0001", "ZZZ^Z01")}
    assert len(stored_log) == len(messages)


# -- the ACK policy, one code after another ----------------------------------------------------


def _variant(raw: bytes, *changes: tuple[bytes, bytes]) -> bytes:
    for old, new in changes:
        assert old in raw, old
        raw = raw.replace(old, new, 1)
    return raw


ENHANCED = (b"|P|2.5.1\r", b"|P|2.5.1|||AL|NE\r")
NO_PID_3 = (b"MRN-4711^^^GENHOSP^MR", b"")


@dataclass(frozen=True)
class PolicyCase:
    message: bytes
    ack: str
    condition: str  # ERR-3.1, "" without ERR
    severity: str  # ERR-4
    topic: str  # where the message is besides hl7.raw: "events" or "dlq"


def _policy_cases() -> dict[str, PolicyCase]:
    def admit(control_id: str) -> bytes:
        return patient_message(control_id, "Quellhorst", "Annike")

    return {
        "AA stored": PolicyCase(admit("POL-AA"), "AA", "", "", "events"),
        "CA stored, enhanced mode": PolicyCase(
            _variant(admit("POL-CA"), ENHANCED), "CA", "", "", "events"
        ),
        "AE content error": PolicyCase(
            _variant(admit("POL-AE"), NO_PID_3), "AE", "101", "E", "dlq"
        ),
        "CE content error, enhanced mode": PolicyCase(
            _variant(admit("POL-CE"), NO_PID_3, ENHANCED), "CE", "101", "E", "dlq"
        ),
        "AR unsupported version": PolicyCase(
            _variant(admit("POL-AR"), (b"|P|2.5.1\r", b"|P|3.0\r")), "AR", "203", "E", "dlq"
        ),
        "CR unsupported processing id, enhanced mode": PolicyCase(
            _variant(admit("POL-CR"), (b"|P|2.5.1\r", b"|PROD|2.5.1|||AL|NE\r")),
            "CR",
            "202",
            "E",
            "dlq",
        ),
        "AR content error, by the sender's profile": PolicyCase(
            _variant(admit("POL-OVR"), NO_PID_3, (b"|ADT|GENHOSP|", b"|OLDLAB|GENHOSP|")),
            "AR",
            "101",
            "E",
            "dlq",
        ),
    }


def test_each_code_of_the_ack_policy_over_mllp(start_mllp, bus_topics, tmp_path):
    """AA, CA, AE, CE, AR, CR as the README's ACK policy has them (the resend answer, AR with
    206 and F, is in test_mllp_faults), a sender profile's override, and each message where
    the policy says it is."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "oldlab.toml").write_text(
        '[match]\nsending_application = "OLDLAB"\n\n[ack]\ncontent_error = "AR"\n'
    )
    connector = start_mllp(HL7BUS_MLLP_PROFILES=json.dumps([str(profiles)]))
    cases = _policy_cases()
    with Peer(connector.port) as peer:
        for what, case in cases.items():
            ack = peer.send(case.message)
            answer = (ack.code, ack.control_id, ack.condition, ack.severity)
            expected = (case.ack, read_header(case.message).control_id, case.condition)
            assert answer == (*expected, case.severity), (what, ack.raw)
            assert not ack.says_resend

    in_dlq = [c for c in cases.values() if c.topic == "dlq"]
    stored = Stored.read(
        bus_topics, raw=len(cases), events=len(cases) - len(in_dlq), dlq=len(in_dlq)
    )
    assert sorted(r.value["raw"] for r in stored.raw) == sorted(c.message for c in cases.values())
    assert sorted(r.value["raw"] for r in stored.dlq) == sorted(c.message for c in in_dlq)
    with_events = {r.value["source"]["message_control_id"] for r in stored.events}
    assert with_events == {"POL-AA", "POL-CA"}
    for record in stored.dlq:
        value = record.value
        assert str(value["hl7_condition"]) == next(
            c.condition for c in in_dlq if c.message == value["raw"]
        )
        assert value["dead_letter_id"] == dead_letter_id(
            value["sending_facility"], value["message_control_id"], value["raw"]
        )
    port = connector.metrics_port
    for code in ("AA", "CA", "AE", "CE", "CR"):
        assert metric(port, "hl7bus_messages_total", ack=code) == 1, code
    assert metric(port, "hl7bus_messages_total", ack="AR") == 2


def test_a_resent_dead_letter_has_the_same_id(start_mllp, bus_topics):
    connector = start_mllp()
    broken = _variant(patient_message("DUP-1", "Quellhorst", "Annike"), NO_PID_3)
    other = _variant(patient_message("DUP-2", "Quellhorst", "Annike"), NO_PID_3)
    with Peer(connector.port) as peer:
        assert [peer.send(m).code for m in (broken, broken, other)] == ["AE", "AE", "AE"]
    stored = Stored.read(bus_topics, raw=3, dlq=3)
    ids = {}
    for record in stored.dlq:
        ids.setdefault(record.value["message_control_id"], set()).add(
            record.value["dead_letter_id"]
        )
    assert len(ids["DUP-1"]) == 1 and len(ids["DUP-2"]) == 1
    assert ids["DUP-1"] != ids["DUP-2"]
    assert len([r for r in stored.dlq if r.value["message_control_id"] == "DUP-1"]) == 2


@pytest.mark.corpus
def test_every_well_formed_corpus_message_gets_AA_or_CA(start_mllp, bus_topics):
    """The acceptance test of "nothing well-formed turned away": every message of the corpus
    (each file split as a file connector would, each with its own control id) is answered
    AA or CA and is on the raw topic, unless tests/corpus_expected.py lists it as broken;
    a broken one is answered with an error and is on the dead-letter topic."""
    connector = start_mllp()
    sent: list[tuple[tuple[str, int], bytes]] = []
    for path in sorted(CORPUS.glob("*.hl7")):
        for index, chunk in enumerate(split_messages(path.read_bytes())):
            where = (path.name, index)
            if where not in BROKEN:  # a new id could mend a broken one (an empty MSH-10)
                chunk = set_control_id(chunk, f"WF-{len(sent):05d}")
            sent.append((where, chunk))
    well_formed = [(where, m) for where, m in sent if where not in BROKEN]
    broken = [(where, m) for where, m in sent if where in BROKEN]
    assert len(well_formed) >= 300 and len(broken) == len(BROKEN)
    answers = {}
    with Peer(connector.port) as peer:
        for where, message in sent:
            ack = peer.send(message)
            assert ack.control_id == read_header(message).control_id, where
            answers[where] = ack
    refused = {
        where: (answers[where].code, answers[where].raw.split(b"\r")[-2][:120])
        for where, _ in well_formed
        if answers[where].code not in ACCEPTED
    }
    assert not refused, f"well-formed corpus messages not accepted: {refused}"
    assert all(answers[where].code not in ACCEPTED for where, _ in broken)
    assert {answers[where].code for where, m in well_formed if read_header(m).enhanced} == {"CA"}

    stored = Stored.read(bus_topics, raw=len(sent), dlq=len(broken), timeout=120)
    on_raw = {r.value["raw"] for r in stored.raw}
    assert all(message in on_raw for _, message in well_formed)
    assert sorted(r.value["raw"] for r in stored.dlq) == sorted(m for _, m in broken)
    port = connector.metrics_port
    assert metric(port, "hl7bus_messages_without_events_total") == len(WITHOUT_EVENTS)
    print(
        f"\n{len(well_formed)} well-formed corpus messages accepted "
        f"({len(WITHOUT_EVENTS)} without events), {len(broken)} broken ones refused"
    )
