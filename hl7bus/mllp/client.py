"""An MLLP client: one connection to a listener, one message at a time, each waiting for
its ACK, as vendor systems send.

``hl7bus send``, ``hl7bus demo``, the MLLP benchmark and the tests' senders all use it::

    async with await MllpClient.connect(host, port, tls=context, timeout_s=30) as client:
        ack = await client.send(message)   # the ACK's bytes, without its MLLP frame

``send`` raises :class:`TimeoutError` when no ACK comes within the timeout and
:class:`ConnectionError` when the listener closes the connection (then, and on every
later ``send``); ``connect`` raises :class:`OSError` (:class:`ssl.SSLError` for a failed
TLS handshake, :class:`TimeoutError` when it takes longer than the timeout).  Frames are
read with :class:`~hl7bus.mllp.framing.MllpDecoder`, so an ACK split over any number of
reads, or two in one read, is read right.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque

from hl7bus.mllp.framing import MllpDecoder, frame

ACK_LIMIT = 1024 * 1024  # a longer answer keeps only its first bytes


class _Connection(asyncio.Protocol):
    """The socket's side: frames as they arrive, with their arrival time, and whether the
    connection is gone.  (A protocol rather than streams keeps the cost per message small,
    which the benchmark's load generator needs.)"""

    def __init__(self, max_ack_bytes: int) -> None:
        self.decoder = MllpDecoder(max_ack_bytes)
        self.frames: deque[tuple[bytes, float]] = deque()
        self.lost: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        for found in self.decoder.feed(data):
            self.frames.append((found.payload, arrived))
        if self.frames:
            self._wake(self._waiter)

    def eof_received(self) -> bool:
        return False  # the listener is done: close

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("the listener closed the connection")
        self._wake(self._waiter)
        self._wake(self._writable)
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake(self._writable)
        self._writable = None

    async def writable(self) -> None:
        """Return once the transport's write buffer has room again (or the connection is
        gone: then :meth:`next_frame` says so, after any ACK that came before)."""
        if self._writable is not None:
            await self._writable

    async def next_frame(self) -> tuple[bytes, float]:
        while not self.frames:
            self.raise_if_lost()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.frames.popleft()

    async def closed(self) -> None:
        await asyncio.shield(self._closed)

    def raise_if_lost(self) -> None:
        """Raise the reason the connection is gone (an :class:`OSError`), if it is."""
        if self.lost is None and self.transport is not None and self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        if isinstance(self.lost, OSError):
            raise self.lost
        if self.lost is not None:
            raise ConnectionError(str(self.lost)) from self.lost

    @staticmethod
    def _wake(future: asyncio.Future[None] | None) -> None:
        if future is not None and not future.done():
            future.set_result(None)


class MllpClient:
    """One MLLP connection to a listener.  Make it with :meth:`connect`."""

    def __init__(self, connection: _Connection, timeout_s: float) -> None:
        self._connection = connection
        self.timeout_s = timeout_s
        self.ack_received_at = 0.0  # time.perf_counter() when the last ACK's bytes arrived

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        timeout_s: float = 30.0,
        max_ack_bytes: int = ACK_LIMIT,
    ) -> MllpClient:
        """Connect (and with ``tls``, shake hands) within ``timeout_s``; that is also how
        long :meth:`send` waits for each ACK."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            _, connection = await loop.create_connection(
                lambda: _Connection(max_ack_bytes), host, port, ssl=tls
            )
        return cls(connection, timeout_s)

    async def send(self, message: bytes) -> bytes:
        """Send one message in its MLLP frame; the next frame the listener answers with
        (its ACK), without the frame."""
        connection = self._connection
        connection.raise_if_lost()
        assert connection.transport is not None
        connection.transport.write(frame(message))
        async with asyncio.timeout(self.timeout_s):
            await connection.writable()
            ack, self.ack_received_at = await connection.next_frame()
        return ack

    async def close(self) -> None:
        """Close the connection; waits up to 2 s for it to be closed."""
        transport = self._connection.transport
        if transport is not None:
            transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connection.closed(), 2)

    async def __aenter__(self) -> MllpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
