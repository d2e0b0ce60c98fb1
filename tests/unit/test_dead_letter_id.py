"""Dead letters have an identity, as events do: the same message gives the same
``dead_letter_id`` however often it is sent, so the duplicates a resend after a store
timeout leaves on ``hl7.dlq`` are recognised, counted once and replayed once."""

from __future__ import annotations

import asyncio
import uuid

from test_mllp_ack import ADMIT, FakeStore, _decode, _with_msh

from hl7bus.connectors.mllp.server import MllpServer
from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7.header import read_header
from hl7bus.ingest.records import Ingestor, Received, SchemaIds, dead_letter_id
from hl7bus.kafka.producer import StoreError
from hl7bus.kafka.topics import Topics
from hl7bus.mapping.profiles import load_profiles
from hl7bus.metrics import ConnectorMetrics
from hl7bus.mllp.framing import Frame
from hl7bus.settings import MllpSettings

NO_PID_3 = ADMIT.replace(b"PATID1234^^^GOOD HEALTH HOSPITAL^MR", b"")


def test_the_same_bytes_give_the_same_id_and_other_bytes_another():
    first = dead_letter_id("GOOD HEALTH HOSPITAL", "MSG00001", NO_PID_3)
    assert first == dead_letter_id("GOOD HEALTH HOSPITAL", "MSG00001", bytes(NO_PID_3))
    assert uuid.UUID(first).version == 5
    others = {
        dead_letter_id("GOOD HEALTH HOSPITAL", "MSG00001", NO_PID_3 + b"NTE|1||x\r"),
        dead_letter_id("GOOD HEALTH HOSPITAL", "MSG00002", NO_PID_3),
        dead_letter_id("OTHER HOSPITAL", "MSG00001", NO_PID_3),
        dead_letter_id("", "", NO_PID_3),
    }
    assert first not in others and len(others) == 4


def _ingestor() -> Ingestor:
    return Ingestor(Topics(), load_profiles([]), SchemaIds(raw=1, events=2, dlq=3))


def test_the_dead_letter_record_carries_its_id():
    header = read_header(NO_PID_3)
    error = MessageError(ErrorCode.REQUIRED_FIELD_MISSING, "PID-3 is empty.", segment="PID")
    received = Received(NO_PID_3, "2026-11-28T10:15:00.000+00:00", "mllp:test")
    record = _ingestor().dead_letter(received, header, error, "2026-11-28T10:15:01+00:00", None)
    value = _decode(record.value, "DeadLetter")
    assert value["dead_letter_id"] == dead_letter_id("GOOD HEALTH HOSPITAL", "MSG00001", NO_PID_3)


class LateStore(FakeStore):
    """Kafka that stores the records but acknowledges the dead letter too late, once."""

    def __init__(self) -> None:
        super().__init__()
        self.late = True

    async def put(self, records):
        stored = await super().put(records)
        if self.late and any(r.topic == "hl7.dlq" for r in records):
            self.late = False
            raise StoreError("Kafka did not acknowledge the message within 3 s.")
        return stored


def test_a_resend_after_a_store_timeout_gives_a_dead_letter_with_the_same_id():
    store = LateStore()
    server = MllpServer(
        MllpSettings(metrics_port=None), _ingestor(), store, ConnectorMetrics("mllp:test")
    )
    other = _with_msh(NO_PID_3, 10, b"MSG00002")
    codes = []
    for raw in (NO_PID_3, NO_PID_3, other):  # the sender resends the first after AR 206
        ack = asyncio.run(server.handle(Frame(raw, size=len(raw)), "127.0.0.1:40000"))
        codes.append(ack.split(b"\r")[1].split(b"|")[1])
    assert codes == [b"AR", b"AE", b"AE"]
    dead = [_decode(r.value, "DeadLetter") for r in store.records if r.topic == "hl7.dlq"]
    assert [d["message_control_id"] for d in dead] == ["MSG00001", "MSG00001", "MSG00002"]
    assert dead[0]["dead_letter_id"] == dead[1]["dead_letter_id"] != dead[2]["dead_letter_id"]


def test_the_dead_letter_of_a_message_too_large_has_an_id_of_its_kept_start():
    store = FakeStore()
    server = MllpServer(
        MllpSettings(metrics_port=None, max_message_bytes=1000),
        _ingestor(),
        store,
        ConnectorMetrics("mllp:test"),
    )
    kept = ADMIT[:200]
    for _ in range(2):
        asyncio.run(server.handle(Frame(kept, oversized=True, size=5_000_000), "127.0.0.1:1"))
    ids = {_decode(r.value, "DeadLetter")["dead_letter_id"] for r in store.records}
    assert ids == {dead_letter_id("GOOD HEALTH HOSPITAL", "MSG00001", kept)}
