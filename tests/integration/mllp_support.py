"""What the MLLP connector's integration tests share: messages (the project's own, or the
corpus's) each with its own control id and what the bus must make of it; well-behaved
senders on hl7bus's MLLP client, a raw-socket peer for the ones that misbehave, and
python-hl7's ``mllp_send``; the connector's metrics and log as a test reads them."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from hl7.client import CR, EB, SB
from prometheus_client.parser import text_string_to_metric_families

from hl7bus.errors import MessageError
from hl7bus.hl7 import parse_message, split_messages
from hl7bus.hl7.header import control_id_bounds, read_header
from hl7bus.mapping.profiles import load_profiles
from hl7bus.mapping.router import translate
from hl7bus.mllp.ack import ack_code
from hl7bus.mllp.client import MllpClient
from hl7bus.mllp.framing import frame

from paths import CORPUS, own_files

MLLP_SEND = Path(sys.executable).parent / "mllp_send"

# -- messages and what must become of them --------------------------------------------------------


def set_control_id(raw: bytes, control_id: str) -> bytes:
    """``raw`` with MSH-10 replaced, or ``raw`` unchanged when its header has no MSH-10."""
    bounds = control_id_bounds(raw)
    if bounds is None:
        return raw
    changed = raw[: bounds[0]] + control_id.encode() + raw[bounds[1] :]
    return changed if read_header(changed).control_id == control_id else raw


@dataclass(frozen=True)
class Expected:
    """One message as sent, and what the bus must make of it (worked out offline)."""

    name: str
    wire: bytes  # exactly the bytes inside the MLLP frame
    control_id: str  # MSH-10 as the header reads it
    ack: str  # AA, AR or AE (CA, CR, CE in enhanced mode)
    event_ids: tuple[str, ...] = ()
    patient_keys: tuple[str, ...] = ()
    error_code: str | None = None
    family_names: tuple[str, ...] = ()  # patient data: never in a log line


_PROFILES = load_profiles([])


def expect(name: str, wire: bytes) -> Expected:
    header = read_header(wire)
    try:
        events = translate(wire, _PROFILES).events
    except MessageError as error:
        return Expected(
            name,
            wire,
            header.control_id,
            ack_code(header, error).value,
            error_code=error.code.text,
        )
    return Expected(
        name,
        wire,
        header.control_id,
        ack_code(header, None).value,
        tuple(e.event_id for e in events),
        tuple(e.patient.key for e in events),
        family_names=tuple(
            e.patient.name.family for e in events if e.patient.name and e.patient.name.family
        ),
    )


Sample = tuple[str, bytes]  # a name to show, and the message as written


def own_samples() -> list[Sample]:
    """The project's own test messages and the sample feed, each message on its own
    (good, odd and broken): what ``make test`` sends."""
    return [
        (f"{path.name}#{n}", message)
        for path in own_files()
        for n, message in enumerate(split_messages(path.read_bytes()), 1)
    ]


def corpus_samples() -> list[Sample]:
    """Every corpus file (good, odd and malformed), each sent whole as one message."""
    files = [*sorted(CORPUS.glob("*.hl7")), *sorted((CORPUS / "malformed").glob("*.hl7"))]
    return [(path.name, path.read_bytes()) for path in files]


SAMPLES: dict[str, Callable[[], list[Sample]]] = {"own": own_samples, "corpus": corpus_samples}


def day_of_messages(tag: str, count: int, samples: list[Sample], start: int = 0) -> list[Expected]:
    """``count`` messages, cycling through ``samples``, each copy with MSH-10
    ``<tag><n>`` where its header has one (so resent copies of a message stay distinct)."""
    out = []
    for n in range(start, start + count):
        name, raw = samples[n % len(samples)]
        # mllp_send strips VT and CR around each message: send what it would send.
        wire = set_control_id(raw, f"{tag}{n:05d}").strip(SB + CR)
        out.append(expect(name, wire))
    return out


def good_messages(tag: str, count: int, samples: list[Sample]) -> list[Expected]:
    """Messages of ``samples`` the bus translates into events (AA), with distinct control
    ids."""
    found: list[Expected] = []
    n = 0
    while len(found) < count:
        for expected in day_of_messages(tag, 50, samples, start=n):
            if expected.ack == "AA" and expected.control_id.startswith(tag):
                found.append(expected)
        n += 50
        assert n < 10_000, "too few of the messages are translatable"
    return found[:count]


# -- ACKs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    code: str
    control_id: str  # MSA-2, as written
    raw: bytes
    condition: str = ""  # ERR-3.1, HL7 table 0357
    severity: str = ""  # ERR-4, HL7 table 0516

    @classmethod
    def read(cls, data: bytes) -> Ack:
        body = data.strip(SB + EB + CR + b"\n")
        message = parse_message(body)  # every ACK must parse
        msa = message.segment("MSA")
        assert msa is not None, body
        err = message.segment("ERR")
        if err is None:
            return cls(msa.get(1), msa.field(2), body)
        return cls(msa.get(1), msa.field(2), body, err.get(3, 1), err.get(4))

    @property
    def says_resend(self) -> bool:
        """The ACK policy's one resendable answer: not stored (ERR-3 206; ERR-4 F from
        v2.6, E before)."""
        return self.condition == "206"


def acks_in(stream: bytes) -> list[Ack]:
    return [Ack.read(m) for m in re.findall(rb"\x0b(.*?)\x1c\r", stream, re.S)]


# -- senders -----------------------------------------------------------------------------------


def run_mllp_send(port: int, messages: list[Expected], folder: Path, name: str) -> subprocess.Popen:
    """python-hl7's ``mllp_send`` on one connection, over a file of MLLP-framed messages;
    its stdout (every ACK, in order) goes to ``folder/name.acks``."""
    stream = folder / f"{name}.mllp"
    stream.write_bytes(b"".join(frame(m.wire) for m in messages))
    out = (folder / f"{name}.acks").open("wb")
    return subprocess.Popen(
        [str(MLLP_SEND), "-f", str(stream), "-p", str(port), "127.0.0.1"],
        stdout=out,
        stderr=subprocess.STDOUT,
    )


class Peer:
    """A raw connection, for a peer that misbehaves (garbage, a frame that stops half-way, a
    byte at a time) and then may send a whole frame and read its ACK on the same socket.
    Well-behaved senders use hl7bus's :class:`MllpClient` (``Sender``, ``exchange``)."""

    def __init__(self, port: int, timeout: float = 20.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._pending = b""

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: bytes) -> Ack:
        self.sock.sendall(SB + message + EB + CR)
        return self.read_ack()

    def read_ack(self) -> Ack:
        while EB + CR not in self._pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the connector closed the connection")
            self._pending += chunk
        ack, self._pending = self._pending.split(EB + CR, 1)
        return Ack.read(ack)

    def closed_by_peer(self, within: float) -> bool:
        """True when the connector closes the connection within ``within`` seconds."""
        self.sock.settimeout(within)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


def exchange(port: int, message: bytes, timeout: float = 20.0) -> Ack:
    """A well-behaved sender's one message on a new connection, with hl7bus's MLLP client;
    its ACK (OSError when the connection fails)."""

    async def send() -> bytes:
        async with await MllpClient.connect("127.0.0.1", port, timeout_s=timeout) as client:
            return await client.send(message)

    return Ack.read(asyncio.run(send()))


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1
) -> object:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- what the connector says about itself --------------------------------------------------------


def metrics(port: int) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "connector")
            out[(sample.name, labels)] = sample.value
    return out


def metric(port: int, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in metrics(port).items() if n == name and wanted <= ls)


def log_entries(text: str) -> list[dict]:
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "msg" in entry:
            entries.append(entry)
    return entries


def logged(text: str, msg: str, **fields: object) -> list[dict]:
    return [
        e
        for e in log_entries(text)
        if msg in e["msg"] and all(e.get(k) == v for k, v in fields.items())
    ]


def assert_no_patient_data(text: str, secrets: Iterable[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"patient data {secret!r} in the connector's log"


def patient_message(
    control_id: str, family: str, given: str, mrn: str = "MRN-4711", facility: str = "GENHOSP"
) -> bytes:
    """An ADT^A01 for one named patient: the name must never reach a log line."""
    return (
        f"MSH|^~\\&|ADT|{facility}|HL7BUS|HUB|20261128101500+0100||ADT^A01^ADT_A01|"
        f"{control_id}|P|2.5.1\r"
        f"EVN|A01|20261128101500+0100\r"
        f"PID|1||{mrn}^^^{facility}^MR||{family}^{given}||19610615|F\r"
        f"PV1|1|I|WARD1^101^A\r"
    ).encode()


def group_by(items: Iterable, key: Callable) -> dict:
    out: dict = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return out


# -- what reached Kafka ----------------------------------------------------------------------------


@dataclass
class Stored:
    """The three topics of one bus, as a reader finds them."""

    raw: list
    events: list
    dlq: list

    @classmethod
    def read(
        cls, bus_topics, *, raw: int = 0, events: int = 0, dlq: int = 0, timeout: float = 60.0
    ) -> Stored:
        from conftest import read_topic

        topics = bus_topics.topics
        return cls(
            read_topic(bus_topics, topics.raw, at_least=raw, timeout=timeout),
            read_topic(bus_topics, topics.events, at_least=events, timeout=timeout),
            read_topic(bus_topics, topics.dlq, at_least=dlq, timeout=timeout),
        )

    def check_accepted(self, bus_topics, accepted: Iterable[Expected]) -> None:
        """Each message is on the raw topic with its bytes, and each of its events is on the
        events topic under its patient's key, pointing at a raw copy of that message."""
        raw_by_id = group_by(self.raw, lambda r: r.value["message_control_id"])
        raw_at = {(r.partition, r.offset): r for r in self.raw}
        events_by_id = group_by(self.events, lambda r: r.value["event_id"])
        for message in accepted:
            copies = raw_by_id.get(message.control_id, [])
            assert any(r.value["raw"] == message.wire for r in copies), (
                f"{message.name} ({message.control_id}) got AA but is not on the raw topic"
            )
            for event_id, key in zip(message.event_ids, message.patient_keys, strict=True):
                found = events_by_id.get(event_id)
                assert found, f"event {event_id} of {message.name} got AA but is not on Kafka"
                for record in found:
                    assert record.key == key.encode()
                    source = record.value["source"]
                    assert source["message_control_id"] == message.control_id
                    assert source["raw_topic"] == bus_topics.topics.raw
                    pointed = raw_at.get((source["raw_partition"], source["raw_offset"]))
                    assert pointed is not None, f"event {event_id} points at no raw record"
                    assert pointed.value["message_control_id"] == message.control_id
                    assert pointed.value["raw"] == message.wire

    def check_rejected(self, rejected: Iterable[Expected]) -> None:
        """Each message is on the dead-letter topic with its bytes and its error."""
        dead = group_by(self.dlq, lambda r: r.value["raw"])
        for message in rejected:
            records = dead.get(message.wire)
            assert records, f"{message.name} got {message.ack} but is not on the DLQ"
            assert {r.value["error_code"] for r in records} == {message.error_code}


# -- a vendor system that keeps sending ----------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    message: Expected
    ack: Ack
    sent_at: float
    acked_at: float


class Sender(threading.Thread):
    """A vendor system on one connection (hl7bus's MLLP client, in this thread's own event
    loop): sends its messages in order, one at a time, waiting for each ACK.  With
    ``resend`` it sends a message again after an ACK that says resend (ERR-3 206) or a
    lost connection (reconnecting) until it gets AA; after any other answer it goes on
    to the next message.  Without ``resend`` it stops at the first lost connection.  Gives
    up at ``deadline`` (time.monotonic)."""

    def __init__(
        self,
        port: int,
        messages: list[Expected],
        deadline: float,
        *,
        resend: bool = True,
        pause: float = 0.0,
        retry_pause: float = 0.2,
    ) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.messages = messages
        self.deadline = deadline
        self.resend = resend
        self.pause = pause
        self.retry_pause = retry_pause
        self.exchanges: list[Exchange] = []
        self.connection_errors = 0
        self.finished = False  # every message answered: AA, or an error no resend fixes
        self.error: BaseException | None = None

    def accepted(self) -> list[Expected]:
        return [x.message for x in self.exchanges if x.ack.code in ("AA", "CA")]

    def run(self) -> None:
        try:
            asyncio.run(self._send_all())
        except BaseException as exc:  # reported by the test through .error
            self.error = exc

    async def _send_all(self) -> None:
        client: MllpClient | None = None
        try:
            for message in self.messages:
                while True:
                    if time.monotonic() > self.deadline:
                        return
                    try:
                        if client is None:
                            client = await MllpClient.connect("127.0.0.1", self.port, timeout_s=15)
                        sent_at = time.monotonic()
                        ack = Ack.read(await client.send(message.wire))
                        self.exchanges.append(Exchange(message, ack, sent_at, time.monotonic()))
                        assert ack.control_id == message.control_id
                        if ack.code in ("AA", "CA") or not ack.says_resend:
                            break
                    except OSError:  # refused, reset, closed, timed out
                        self.connection_errors += 1
                        if client is not None:
                            await client.close()
                            client = None
                        if not self.resend:
                            return
                    await asyncio.sleep(self.retry_pause)
                await asyncio.sleep(self.pause)
            self.finished = True
        finally:
            if client is not None:
                await client.close()
