"""``hl7bus demo`` plays the sample feed over one MLLP connection: each message of each file
answered in order, and one sentence when no connector answers or it hangs up."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from hl7bus.commands.demo import play, sample_feed
from hl7bus.errors import Hl7BusError
from hl7bus.hl7 import split_messages
from hl7bus.hl7.header import read_header
from hl7bus.mllp.framing import MllpDecoder, frame


@dataclass
class Listener:
    port: int = 0
    received: list[str] = field(default_factory=list)
    hang_up_after: int | None = None


@pytest.fixture
def listener() -> Iterator[Listener]:
    """An MLLP listener in a thread: AA for every message, AR for legacy billing's."""
    fake = Listener()
    loop = asyncio.new_event_loop()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = MllpDecoder(1 << 20)
        while data := await reader.read(65536):
            for found in decoder.feed(data):
                header = read_header(found.payload)
                fake.received.append(header.control_id)
                if fake.hang_up_after is not None and len(fake.received) > fake.hang_up_after:
                    writer.close()
                    return
                code = "AR" if header.sending_application == "OLDBILL" else "AA"
                writer.write(
                    frame(
                        b"MSH|^~\\&|HL7BUS|HUB|X|Y|20261128101500||ACK|A1|P|2.5\r"
                        + f"MSA|{code}|{header.control_id}\r".encode()
                    )
                )
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
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_every_message_of_the_feed_is_answered_in_order(listener: Listener) -> None:
    files = sample_feed()
    answers = play("127.0.0.1", listener.port, files, timeout_s=5)
    sent = [
        (path.name, read_header(message).control_id)
        for path in files
        for message in split_messages(path.read_bytes())
    ]
    assert [(name, control_id) for name, control_id, _ in answers] == sent
    assert listener.received == [control_id for _, control_id in sent]
    codes = {control_id: code for _, control_id, code in answers}
    assert codes["BILL0001"] == "AR" and codes["NWADT0001"] == "AA"


def test_no_connector_is_one_sentence() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(Hl7BusError) as raised:
        play("127.0.0.1", port, sample_feed(), timeout_s=5)
    assert str(raised.value).startswith(f"no MLLP connector answers at 127.0.0.1:{port} (")
    assert "hl7bus dev up" in str(raised.value)


def test_a_connector_that_hangs_up_is_one_sentence(listener: Listener) -> None:
    listener.hang_up_after = 2
    with pytest.raises(Hl7BusError, match="the MLLP connector closed the connection"):
        play("127.0.0.1", listener.port, sample_feed(), timeout_s=5)
    assert len(listener.received) == 3
