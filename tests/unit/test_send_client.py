"""``hl7bus send`` against a tiny MLLP listener in this process that answers canned ACKs:
one message at a time, the report, the exit status, and one sentence when the
connection fails."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hl7bus.cli import main
from hl7bus.commands.send import Target, run
from hl7bus.hl7.header import read_header
from hl7bus.mllp.framing import MllpDecoder, frame


def message(control_id: str) -> str:
    return (
        f"MSH|^~\\&|REG|HOSP|BUS|HOSP|20240115103000||ADT^A01|{control_id}|P|2.5\r"
        "EVN|A01|20240115103000\rPID|1||111^^^HOSP^MR||Doe^Jane\r"
    )


def canned(control_id: str) -> str | None:
    """The code the fake answers: from the control id's prefix (``AR-1`` gets AR)."""
    prefix = control_id.split("-")[0]
    return None if prefix == "MUTE" else prefix if prefix in ("AA", "AE", "AR", "CA") else "AA"


@dataclass
class FakeListener:
    port: int = 0
    received: list[str] = field(default_factory=list)
    close_after: int | None = None  # hang up after this many messages
    in_flight_max: int = 0


@pytest.fixture
def listener() -> Iterator[FakeListener]:
    fake = FakeListener()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = MllpDecoder(1 << 20)
        while data := await reader.read(65536):
            frames = decoder.feed(data)
            fake.in_flight_max = max(fake.in_flight_max, len(frames))
            for found in frames:
                header = read_header(found.payload)
                fake.received.append(header.control_id)
                if fake.close_after is not None and len(fake.received) > fake.close_after:
                    writer.close()
                    return
                code = canned(header.control_id)
                if code is None:
                    continue
                text = "" if code in ("AA", "CA") else "|canned \\F\\ refusal"
                writer.write(
                    frame(
                        f"MSH|^~\\&|BUS|HOSP|REG|HOSP|20240115103001||ACK|X|P|2.5\r"
                        f"MSA|{code}|{header.control_id}{text}\r".encode()
                    )
                )
                await writer.drain()
        writer.close()

    async def start() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        fake.port = server.sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    ready.wait(5)
    yield fake
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def make(*control_ids: str, name: str = "msgs.hl7") -> Path:
        path = tmp_path / name
        path.write_text("".join(message(c) for c in control_ids))
        return path

    return make


def test_all_accepted_exits_0_with_the_summary(listener, write, capsys):
    path = write("C1", "C2", "C3")
    assert main(["send", str(path), "--port", str(listener.port)]) == 0
    out, err = capsys.readouterr()
    assert out == "sent 3 messages: AA 3\n"
    assert err == ""
    assert listener.received == ["C1", "C2", "C3"]
    assert listener.in_flight_max == 1  # each message waits for the previous one's ACK


def test_other_codes_exit_2_and_list_the_control_ids(listener, write, capsys):
    first = write("C1", "AR-7", "C2", name="a.hl7")
    second = write("AE-9", "CA-1", "AR-8", name="b.hl7")
    assert main(["send", str(first), str(second), "--port", str(listener.port)]) == 2
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "sent 6 messages: AA 2, CA 1, AR 2, AE 1"
    assert lines[1:] == [
        "  AR AR-7: canned | refusal",
        "  AE AE-9: canned | refusal",
        "  AR AR-8: canned | refusal",
    ]


def test_a_batch_file_is_sent_message_by_message(listener, tmp_path, capsys):
    path = tmp_path / "batch.hl7"
    path.write_text(
        "FHS|^~\\&|REG\rBHS|^~\\&|REG\r" + message("B1") + message("B2") + "BTS|2\rFTS|1\r"
    )
    assert main(["send", str(path), "--port", str(listener.port)]) == 0
    assert listener.received == ["B1", "B2"]


def test_no_listener_is_exit_1_with_one_sentence(write, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    assert main(["send", str(write("C1")), "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"hl7bus: could not connect to 127.0.0.1:{port}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_hang_up_midway_is_exit_1_after_reporting_what_was_answered(listener, write, capsys):
    listener.close_after = 2
    assert main(["send", str(write("C1", "C2", "C3", "C4")), "--port", str(listener.port)]) == 1
    out, err = capsys.readouterr()
    assert out == "sent 2 messages of 4: AA 2\n"
    assert "failed after 2 of 4 messages" in err
    assert "Traceback" not in err


def test_no_ack_within_the_timeout_is_exit_1(listener, write, capsys):
    path = write("C1", "MUTE-1", "C2")
    assert main(["send", str(path), "--port", str(listener.port), "--timeout", "0.5"]) == 1
    out, err = capsys.readouterr()
    assert out == "sent 1 message of 3: AA 1\n"
    assert "no ACK from" in err and "MUTE-1" in err


def test_an_unreadable_file_is_exit_1(tmp_path, capsys):
    assert main(["send", str(tmp_path / "missing.hl7")]) == 1
    assert "cannot read" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal(listener, write):
    out, err = io.StringIO(), Terminal()
    code = run([write("C1", "AE-2")], Target("127.0.0.1", listener.port, 5.0), out, err)
    assert code == 2
    assert "\r[" in err.getvalue() and "2/2" in err.getvalue()
    assert err.getvalue().endswith("\n")
    assert out.getvalue().splitlines()[0] == "sent 2 messages: AA 1, AE 1"


def test_no_progress_bar_when_stderr_is_not_a_terminal(listener, write):
    out, err = io.StringIO(), io.StringIO()
    run([write("C1")], Target("127.0.0.1", listener.port, 5.0), out, err)
    assert err.getvalue() == ""
