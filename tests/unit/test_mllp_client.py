"""The MLLP client that ``hl7bus send``, ``hl7bus demo``, the benchmark and the tests' senders
share, against small listeners in this process: one framed message out, its ACK back
however the listener's bytes are split, a clear error when the ACK does not come or the
connection goes, and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hl7bus.hl7.header import read_header
from hl7bus.mllp.client import MllpClient
from hl7bus.mllp.framing import MllpDecoder, frame

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def adt(control_id: str) -> bytes:
    return (
        f"MSH|^~\\&|REG|HOSP|BUS|HOSP|20240115103000||ADT^A01|{control_id}|P|2.5\r"
        "EVN|A01|20240115103000\rPID|1||111^^^HOSP^MR||Doe^Jane\r"
    ).encode()


def ack(control_id: str, code: str = "AA") -> bytes:
    return (
        f"MSH|^~\\&|BUS|HOSP|REG|HOSP|20240115103001||ACK|A-{control_id}|P|2.5\r"
        f"MSA|{code}|{control_id}\r"
    ).encode()


def answering(split: int | None = None, code: str = "AA") -> Handler:
    """A listener that answers each message with an ACK echoing its control id, written
    ``split`` bytes at a time when asked."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = MllpDecoder(1 << 20)
        while data := await reader.read(65536):
            for found in decoder.feed(data):
                answer = frame(ack(read_header(found.payload).control_id, code))
                step = split or len(answer)
                for i in range(0, len(answer), step):
                    writer.write(answer[i : i + step])
                    await writer.drain()
                    await asyncio.sleep(0)
        writer.close()

    return handle


async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)


def port_of(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


def run(coroutine: Awaitable) -> object:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


@contextlib.asynccontextmanager
async def connected(handler: Handler) -> AsyncIterator[MllpClient]:
    """A client connected to a listener running ``handler``; both closed after."""
    server = await serve(handler)
    async with server, await MllpClient.connect("127.0.0.1", port_of(server)) as client:
        yield client


def test_each_message_gets_its_own_ack_in_order() -> None:
    async def go() -> list[bytes]:
        async with connected(answering()) as client:
            return [await client.send(adt(c)) for c in ("C1", "C2", "C3")]

    assert run(go()) == [ack("C1"), ack("C2"), ack("C3")]


def test_an_ack_trickling_in_byte_by_byte_is_read_whole() -> None:
    async def go() -> tuple[bytes, float, float]:
        async with connected(answering(split=1, code="AE")) as client:
            before = time.perf_counter()
            got = await client.send(adt("SLOW-1"))
            return got, before, client.ack_received_at

    got, before, received_at = run(go())
    assert got == ack("SLOW-1", "AE")
    assert before <= received_at <= time.perf_counter()


def test_the_message_goes_out_in_one_frame() -> None:
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\x1c\r"))
        writer.write(frame(ack("F-1")))
        await writer.drain()
        writer.close()

    async def go() -> bytes:
        async with connected(record) as client:
            return await client.send(adt("F-1"))

    assert run(go()) == ack("F-1")
    assert seen == [frame(adt("F-1"))]


def test_no_ack_within_the_timeout_is_a_timeout_error() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # the message: never answered
        await reader.read(65536)  # until the client hangs up

    async def go() -> float:
        async with await serve(mute) as server:
            client = await MllpClient.connect("127.0.0.1", port_of(server), timeout_s=0.3)
            started = time.monotonic()
            try:
                with pytest.raises(TimeoutError):
                    await client.send(adt("MUTE-1"))
            finally:
                await client.close()
            return time.monotonic() - started

    assert 0.25 < run(go()) < 2


def test_a_listener_that_hangs_up_is_a_connection_error_also_on_the_next_send() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()

    async def go() -> None:
        async with connected(hang_up) as client:
            with pytest.raises(ConnectionError):
                await client.send(adt("GONE-1"))
            with pytest.raises(ConnectionError):
                await client.send(adt("GONE-2"))

    run(go())


def test_an_ack_followed_by_a_hang_up_is_still_the_answer() -> None:
    """A connector that stops answers what it has received, then closes."""

    async def answer_then_hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\x1c\r")
        writer.write(frame(ack("LAST-1")))
        writer.close()

    async def go() -> bytes:
        async with connected(answer_then_hang_up) as client:
            got = await client.send(adt("LAST-1"))
            await asyncio.sleep(0.2)  # the hang-up has arrived
            with pytest.raises(ConnectionError):
                await client.send(adt("LAST-2"))
            return got

    assert run(go()) == ack("LAST-1")


def test_nothing_listening_is_an_os_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed

    with pytest.raises(ConnectionRefusedError):
        run(MllpClient.connect("127.0.0.1", port, timeout_s=5))


# -- TLS ---------------------------------------------------------------------------------------


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_path


def test_over_tls_with_a_trusted_listener(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "listener")
    listener = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    listener.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    distrusting = ssl.create_default_context(cafile=str(_self_signed(tmp_path, "other")[0]))

    async def go() -> bytes:
        async with await serve(answering(), listener) as server:
            port = port_of(server)
            with pytest.raises(ssl.SSLCertVerificationError):
                await MllpClient.connect("127.0.0.1", port, tls=distrusting)
            async with await MllpClient.connect("127.0.0.1", port, tls=trusting) as client:
                return await client.send(adt("TLS-1"))

    assert run(go()) == ack("TLS-1")
