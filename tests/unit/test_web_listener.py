"""The web front door's connections have Nagle's algorithm off: an answer goes out in two
writes (its head, then its body), and with Nagle on the body waits for the client's delayed
ACK — 20 to 40 ms on a page of a patient's timeline.  asyncio turns it off only on
connections of a socket made as TCP in so many words, which the front door's is."""

from __future__ import annotations

import asyncio
import socket

from hl7bus.services.web.main import _listen


async def _accepted_nodelay(listener: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accept, sock=listener)
    async with server:
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(seen, 5)
        writer.close()
        return value


def test_the_front_doors_connections_send_without_waiting_for_acks():
    listener = _listen("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    assert asyncio.run(_accepted_nodelay(listener)) == 1


def test_a_socket_not_made_as_tcp_would_keep_nagle_on():
    """What the test above guards against: the same server on a socket made without the
    protocol number keeps Nagle's algorithm on its connections."""
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    plain.listen(8)
    assert asyncio.run(_accepted_nodelay(plain)) == 0
