"""``hl7bus simulate`` against a stand-in MLLP listener that answers as the connector does
(the same translation, profiles and ACK policy, without Kafka): one connection per vendor
system, paced at the rate asked, a summary per vendor (``--json`` for scripts) that counts
the broken messages' rejections as meant; Ctrl-C and the end of ``--duration`` stop cleanly
with the summary; no connector is one sentence."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from simulate_support import profiles

from hl7bus.cli import main
from hl7bus.errors import MessageError
from hl7bus.hl7.header import read_header
from hl7bus.mapping.router import translate
from hl7bus.mllp.ack import ack_code, build_ack
from hl7bus.mllp.framing import MllpDecoder, frame
from hl7bus.simulate import VENDORS


@dataclass
class Received:
    connection: int
    application: str
    control_id: str
    at: float
    code: str


@dataclass
class Listener:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    connections: int = 0


def _answer(message: bytes) -> tuple[str, bytes]:
    header = read_header(message)
    try:
        translate(message, profiles())
        error = None
    except MessageError as exc:
        error = exc
    code = ack_code(header, error)
    ack = build_ack(header, code, now=datetime.now(UTC), ack_control_id="A1", error=error)
    return code.value, ack


@pytest.fixture
def listener() -> Iterator[Listener]:
    fake = Listener()
    loop = asyncio.new_event_loop()
    connections = iter(range(1_000_000))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = next(connections)
        fake.connections += 1
        decoder = MllpDecoder(1 << 20)
        while data := await reader.read(65536):
            for found in decoder.feed(data):
                header = read_header(found.payload)
                code, ack = _answer(found.payload)
                fake.received.append(
                    Received(
                        number,
                        header.sending_application,
                        header.control_id,
                        time.monotonic(),
                        code,
                    )
                )
                writer.write(frame(ack))
                await writer.drain()
        writer.close()

    async def start() -> asyncio.Server:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        fake.port = server.sockets[0].getsockname()[1]
        return server

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    yield fake

    async def stop() -> None:
        server.close()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def fake_connections(listener: Listener) -> int:
    return listener.connections


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


def test_each_vendor_sends_on_its_own_connection_at_the_rate_asked(
    listener: Listener, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--port", str(listener.port), "--rate", "50", "--duration", "2"]
    status = main([*argv, "--seed", "11", "--patients", "12", "--json"])
    out = capsys.readouterr().out
    assert status == 0, out
    summary = json.loads(out)
    received = listener.received
    assert summary["sent"] == summary["answered"] == len(received)
    assert 90 <= len(received) <= 101
    by_connection = defaultdict(set)
    for r in received:
        by_connection[r.connection].add(r.application)
    assert all(len(apps) == 1 for apps in by_connection.values()), "one vendor a connection"
    assert fake_connections(listener) == len(VENDORS), "every vendor system has its connection"
    # paced, not in bursts: each half of the run has about half of the messages
    start = min(r.at for r in received)
    first_half = sum(1 for r in received if r.at - start < 1.0)
    assert 0.35 < first_half / len(received) < 0.65
    # the summary counts what the listener answered, per vendor
    codes = Counter(r.code for r in received)
    assert summary["acks"] == dict(codes)
    assert summary["unexpected"] == []
    for vendor in summary["vendors"]:
        mine = [r for r in received if r.application == vendor["vendor"]]
        assert vendor["messages"] == len(mine)
        assert vendor["acks"] == dict(Counter(r.code for r in mine))
    assert summary["seed"] == 11 and summary["patients"] == 12 and summary["rate"] == 50
    assert summary["stopped"] == "duration"


def test_broken_messages_are_rejected_as_meant_and_the_summary_says_so(
    listener: Listener, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--port", str(listener.port), "--rate", "200", "--duration", "3"]
    status = main([*argv, "--seed", "11", "--patients", "12"])
    out = capsys.readouterr().out
    assert status == 0, out
    refused = [r for r in listener.received if r.code not in ("AA", "CA")]
    assert refused and {r.code for r in refused} == {"AE"}
    assert {r.application for r in refused} == {"ORDERLY"}
    for vendor in VENDORS:
        assert vendor.application in out
    assert f"{len(refused)} broken" in out and "rejected as meant" in out
    assert f"sent {len(listener.received)} messages" in out.lower()
    for r in refused:  # control ids are shown for `hl7bus dlq`; patient data never
        assert r.control_id in out


def test_ctrl_c_stops_with_the_summary_and_a_pipe_gets_no_chatter(listener: Listener) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hl7bus.cli",
            "simulate",
            "--port",
            str(listener.port),
            "--seed",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(listener.received) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("Simulating Ashgrove General Hospital")
    assert not any(re.match(r"\d\d:\d\d  sent ", line) for line in lines), "none in 10 s"
    assert f"sent {len(listener.received)} messages" in out.lower()
    assert "stopped by" in out.lower()


def test_no_connector_is_one_sentence_naming_the_dev_stacks_port(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("HL7BUS_DEV_MLLP_PORT", str(port))
    status = main(["simulate", "--duration", "1"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert err.startswith(f"hl7bus: no MLLP connector answers at 127.0.0.1:{port} (")
    assert "hl7bus dev up" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "option", [["--rate", "0"], ["--duration", "-1"], ["--patients", "0"], ["--rate", "x"]]
)
def test_a_bad_option_is_a_usage_error(option: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["simulate", *option])
    assert raised.value.code == 2


def test_without_a_seed_each_run_is_another_day_and_says_how_to_replay_it(
    listener: Listener, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--port", str(listener.port), "--rate", "20", "--duration", "0.5"]
    seeds = []
    for _ in range(2):
        assert main(argv) == 0
        out = capsys.readouterr().out
        seed = out.split("--seed ", 1)[1].split()[0].strip(").,;")
        seeds.append(seed)
        assert f"seed {seed}" in out.splitlines()[-1] or f"seed {seed}" in out
    assert seeds[0] != seeds[1]
