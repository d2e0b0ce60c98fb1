"""Bad input never stops the bus: garbage, a huge frame, a peer that stops half-way, a
thousand idle connections.  Each gets a clear answer or is dropped, counted in a metric and
written in the log (never with patient data), while a well-behaved sender next to it keeps
getting AA."""

from __future__ import annotations

import asyncio
import random
import resource
import selectors
import socket
import threading
import time
from pathlib import Path

import pytest

from hl7bus.mllp.client import MllpClient
from hl7bus.mllp.framing import PREFIX_KEPT, MllpDecoder

from mllp_support import (
    Ack,
    Peer,
    Stored,
    exchange,
    logged,
    metric,
    patient_message,
    wait_for,
)

pytestmark = pytest.mark.integration

# A patient no log line may ever name.
FAMILY, GIVEN, MRN = "ZZQUIXOTEFAMILY", "ZZDULCINEAGIVEN", "MRN-93317"
SECRETS = (FAMILY, GIVEN, MRN)


class GoodSender(threading.Thread):
    """A well-behaved sender on its own connection (hl7bus's MLLP client, in this thread's
    own event loop), sending a named patient's messages every ``pause`` seconds until
    stopped; every ACK must be AA."""

    def __init__(self, port: int, tag: str, pause: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.port, self.tag, self.pause = port, tag, pause
        self.acks: list[Ack] = []
        self.latencies: list[float] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._send_until_stopped())
        except BaseException as exc:  # reported by the test
            self.error = exc

    async def _send_until_stopped(self) -> None:
        async with await MllpClient.connect("127.0.0.1", self.port, timeout_s=20) as client:
            n = 0
            while not self._halt.is_set():
                started = time.monotonic()
                message = patient_message(f"{self.tag}{n}", FAMILY, GIVEN, MRN)
                ack = Ack.read(await client.send(message))
                self.latencies.append(time.monotonic() - started)
                assert (ack.code, ack.control_id) == ("AA", f"{self.tag}{n}"), ack.raw
                self.acks.append(ack)
                n += 1
                await asyncio.sleep(self.pause)

    def stop(self, after: int = 5) -> None:
        """Stop once ``after`` more messages were answered (on the same connection)."""
        wanted = len(self.acks) + after
        wait_for(
            lambda: len(self.acks) >= wanted or not self.is_alive(),
            30,
            f"{after} more AAs for the good sender",
        )
        self._halt.set()
        self.join(30)
        assert not self.is_alive()
        assert self.error is None, repr(self.error)


def _check_log(log: str, message: str) -> None:
    assert logged(log, message), f"no log line {message!r}"
    for secret in SECRETS:
        assert secret not in log, f"patient data {secret!r} in the connector's log"


def test_garbage_is_skipped_or_rejected_and_the_connector_keeps_serving(start_mllp, bus_topics):
    connector = start_mllp()
    good = GoodSender(connector.port, "GOOD-")
    good.start()
    rng = random.Random(20261128)

    # Garbage with no start block: every byte is skipped, and counted.
    unframed = bytes(b for b in rng.randbytes(200_000) if b != 0x0B)
    # Garbage with start and end blocks here and there: each accidental frame is answered.
    framed = rng.randbytes(40_000) + b"\x1c\r"  # the last one closes any open frame
    decoder = MllpDecoder(8 * 1024 * 1024)
    expected_frames = decoder.feed(framed)
    assert len(expected_frames) > 50
    with Peer(connector.port) as peer:
        peer.send_raw(unframed)
        wait_for(
            lambda: (
                metric(connector.metrics_port, "hl7bus_mllp_skipped_bytes_total") == len(unframed)
            ),
            20,
            "the unframed garbage to be skipped",
        )
        peer.send_raw(framed)
        acks = [peer.read_ack() for _ in expected_frames]
        assert {a.code for a in acks} == {"AR"}
        # The same connection still takes a good message.
        ack = peer.send(patient_message("AFTER-GARBAGE", FAMILY, GIVEN, MRN))
        assert (ack.code, ack.control_id) == ("AA", "AFTER-GARBAGE")
    good.stop()

    stored = Stored.read(bus_topics, dlq=len(expected_frames), raw=len(good.acks) + 1)
    assert sorted(r.value["raw"] for r in stored.dlq) == sorted(f.payload for f in expected_frames)
    assert {r.value["error_code"] for r in stored.dlq} <= {
        "not an HL7 message",
        "bad encoding characters",
        "segment sequence error",
    }
    port = connector.metrics_port
    assert metric(port, "hl7bus_mllp_skipped_bytes_total") == len(unframed) + decoder.skipped_bytes
    assert metric(port, "hl7bus_messages_total", ack="AR") == len(expected_frames)
    assert metric(port, "hl7bus_rejected_total") == len(expected_frames)
    log = connector.log_text()
    _check_log(log, "bytes outside any MLLP frame skipped")
    _check_log(log, "message rejected")
    assert connector.process.poll() is None


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class RssWatch(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, _rss_kib(pid)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.02):
            self.peak = max(self.peak, _rss_kib(self.pid))

    def stop(self) -> int:
        self._halt.set()
        self.join(5)
        return self.peak


def test_a_100_mb_frame_is_rejected_without_holding_it_in_memory(start_mllp, bus_topics):
    # The default frame limit (8 MiB); records up to 1 MB, as on a cluster with Kafka's
    # default record limit, so that a 2 MB message is over Kafka's and under the connector's.
    connector = start_mllp(HL7BUS_KAFKA_MAX_RECORD_BYTES="1000000")
    good = GoodSender(connector.port, "NEXT-DOOR-")
    good.start()
    watch = RssWatch(connector.process.pid)
    watch.start()
    header = patient_message("HUGE-1", FAMILY, GIVEN, MRN) + b"OBX|1|ED|PDF^Report||"
    size = 100 * 1024 * 1024
    chunk = b"QUJDRA==" * (1024 * 128)  # 1 MiB of base64-ish text
    started = time.monotonic()
    with Peer(connector.port, timeout=60) as peer:
        peer.send_raw(b"\x0b" + header)
        sent = len(header)
        while sent < size:
            part = chunk[: size - sent]
            peer.send_raw(part)
            sent += len(part)
        peer.send_raw(b"\x1c\r")
        ack = peer.read_ack()
        upload = time.monotonic() - started
        assert (ack.code, ack.control_id) == ("AR", "HUGE-1")
        assert b"104^message too large^HL70357|E|" in ack.raw
        assert str(size).encode() in ack.raw
        # Over Kafka's record limit but under the connector's: rejected too, not AE forever.
        two_mb = patient_message("BIG-2", FAMILY, GIVEN, MRN) + b"NTE|1||" + b"x" * 2_000_000
        ack = peer.send(two_mb)
        assert (ack.code, ack.control_id) == ("AR", "BIG-2"), ack.raw
        assert b"message too large" in ack.raw
        # The connection is still good.
        ack = peer.send(patient_message("AFTER-HUGE", FAMILY, GIVEN, MRN))
        assert (ack.code, ack.control_id) == ("AA", "AFTER-HUGE")
    peak_mib = watch.stop() / 1024
    good.stop()
    assert peak_mib < 300, f"the connector grew to {peak_mib:.0f} MiB"
    assert max(good.latencies) < 5

    stored = Stored.read(bus_topics, dlq=2)
    dead = {r.value["message_control_id"]: r.value for r in stored.dlq}
    assert dead["HUGE-1"]["error_code"] == "message too large"
    assert dead["HUGE-1"]["raw"] == (header + chunk)[:PREFIX_KEPT]
    assert dead["BIG-2"]["error_code"] == "message too large"
    assert dead["BIG-2"]["raw"] == two_mb[:PREFIX_KEPT]
    assert metric(connector.metrics_port, "hl7bus_mllp_oversized_total") == 2
    log = connector.log_text()
    _check_log(log, "message over the size limit")
    assert logged(log, "message over the size limit")[0]["size"] == size
    assert connector.process.poll() is None
    print(f"\n100 MiB frame answered in {upload:.1f} s; connector peak RSS {peak_mib:.0f} MiB")


def test_a_peer_that_stops_mid_frame_is_closed_after_the_read_timeout(start_mllp):
    connector = start_mllp(HL7BUS_MLLP_READ_TIMEOUT_S="1.5", HL7BUS_MLLP_IDLE_TIMEOUT_S="60")
    good = GoodSender(connector.port, "SERVED-")
    good.start()
    with Peer(connector.port) as loris:
        partial = patient_message("LORIS-1", FAMILY, GIVEN, MRN)[:80]
        loris.send_raw(b"\x0b" + partial)
        started = time.monotonic()
        assert loris.closed_by_peer(within=10), "the connector kept the half-sent frame open"
        waited = time.monotonic() - started
    served = len(good.acks)
    good.stop()
    assert 1.2 < waited < 5, f"closed after {waited:.1f} s"
    assert served >= 10  # the other sender was served while the slow one hung

    port = connector.metrics_port
    assert metric(port, "hl7bus_mllp_timeouts_total", kind="read") == 1
    assert metric(port, "hl7bus_mllp_timeouts_total", kind="idle") == 0
    log = connector.log_text()
    _check_log(log, "connection closed: read timeout")
    assert logged(log, "connection closed: read timeout")[0]["pending_bytes"] == len(partial)


def _closed(socks: list[socket.socket], within: float) -> set[socket.socket]:
    """The sockets the other end closes within ``within`` seconds."""
    closed: set[socket.socket] = set()
    with selectors.DefaultSelector() as sel:
        for sock in socks:
            sel.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while len(closed) < len(socks):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in sel.select(min(remaining, 0.5)):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert not data, "an idle connection was sent something"
                closed.add(sock)
                sel.unregister(sock)
    return closed


def test_a_thousand_idle_connections_are_limited_then_closed(start_mllp):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    limit, idle_s = 200, 8.0
    connector = start_mllp(
        HL7BUS_MLLP_MAX_CONNECTIONS=str(limit), HL7BUS_MLLP_IDLE_TIMEOUT_S=str(idle_s)
    )
    socks = []
    try:
        opened = time.monotonic()
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", connector.port), timeout=10)
            sock.setblocking(False)
            socks.append(sock)
        # Beyond the limit: closed at once. Watch until well before the first held
        # connection can reach its idle timeout (its clock started at ``opened`` or later).
        took = time.monotonic() - opened
        assert took < idle_s - 3, f"opening the connections took {took:.1f} s"
        refused = _closed(socks, within=opened + idle_s - 1.5 - time.monotonic())
        assert time.monotonic() - opened < idle_s - 1
        assert len(refused) == 1000 - limit
        port = connector.metrics_port
        wait_for(lambda: metric(port, "hl7bus_mllp_connections") == limit, 5, "200 open")
        assert metric(port, "hl7bus_mllp_refused_connections_total") == 1000 - limit
        # A new sender is refused too while the limit is reached.
        with pytest.raises(OSError):
            exchange(connector.port, patient_message("REFUSED-1", FAMILY, GIVEN, MRN), timeout=5)
        # The idle ones are closed after the idle timeout.
        held = [s for s in socks if s not in refused]
        idle = _closed(held, within=idle_s + 10)
        assert len(idle) == limit
        assert time.monotonic() - opened >= idle_s
    finally:
        for sock in socks:
            sock.close()
    port = connector.metrics_port
    wait_for(lambda: metric(port, "hl7bus_mllp_connections") == 0, 10, "no open connection")
    assert metric(port, "hl7bus_mllp_timeouts_total", kind="idle") == limit
    ack = exchange(connector.port, patient_message("AFTER-IDLE", FAMILY, GIVEN, MRN))
    assert (ack.code, ack.control_id) == ("AA", "AFTER-IDLE")
    log = connector.log_text()
    _check_log(log, "connection refused: limit reached")
    _check_log(log, "connection closed: idle timeout")
    assert len(logged(log, "connection closed: idle timeout")) == limit
    assert connector.process.poll() is None


def test_a_peer_dripping_one_byte_at_a_time_is_closed(start_mllp):
    """HL7BUS_MLLP_READ_TIMEOUT_S bounds each read; HL7BUS_MLLP_FRAME_TIMEOUT_S bounds the
    whole frame, so a byte just inside the read timeout does not hold the slot forever."""
    connector = start_mllp(HL7BUS_MLLP_READ_TIMEOUT_S="1", HL7BUS_MLLP_FRAME_TIMEOUT_S="2")
    with Peer(connector.port) as drip:
        drip.send_raw(b"\x0b" + patient_message("DRIP-1", FAMILY, GIVEN, MRN)[:20])
        deadline = time.monotonic() + 5
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                drip.send_raw(b"x")
            except OSError:
                closed = True
                break
            closed = drip.closed_by_peer(within=0.5)
    assert closed, "a byte every 0.5 s kept a half-sent frame open for 5 s (timeout 1 s)"
