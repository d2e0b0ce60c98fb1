"""The MLLP listener: vendor systems connect, send HL7 v2 framed in MLLP, and wait for an
ACK after each message.  The ACK is written only once Kafka has stored the message.

Per connection, messages are handled in arrival order; connections run side by side and
share one producer, so their records travel in the same batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
import uuid
from datetime import UTC, datetime

from hl7bus.errors import ConfigError, ErrorCode, MessageError, cannot_listen
from hl7bus.hl7.header import Header, read_header
from hl7bus.ingest.delivery import (
    Delivered,
    after_internal_error,
    deliver,
    too_large_message,
)
from hl7bus.ingest.records import Ingestor, Received
from hl7bus.kafka.producer import KafkaStore, StoreError
from hl7bus.logs import fields
from hl7bus.metrics import ConnectorMetrics
from hl7bus.mllp.ack import ack_code, build_ack
from hl7bus.mllp.framing import Frame, MllpDecoder, frame
from hl7bus.settings import MllpSettings

log = logging.getLogger("hl7bus.mllp")

READ_SIZE = 256 * 1024


def _now() -> datetime:
    return datetime.now(UTC)


def tls_context(settings: MllpSettings) -> ssl.SSLContext | None:
    if settings.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca is not None:
        context.load_verify_locations(settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class MllpServer:
    def __init__(
        self,
        settings: MllpSettings,
        ingestor: Ingestor,
        store: KafkaStore,
        metrics: ConnectorMetrics,
    ) -> None:
        self.settings = settings
        self.ingestor = ingestor
        self.store = store
        self.metrics = metrics
        self.connector = f"mllp:{settings.name}"
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._draining = asyncio.Event()
        self._busy: dict[asyncio.Task, bool] = {}

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; a port or certificate that cannot be used is a :class:`ConfigError`."""
        s = self.settings
        try:
            context = tls_context(s)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConfigError(
                f"cannot use the TLS certificate {s.tls_cert} and key {s.tls_key} "
                f"({getattr(exc, 'strerror', None) or exc}); check HL7BUS_MLLP_TLS_CERT and "
                "HL7BUS_MLLP_TLS_KEY"
            ) from None
        try:
            self._server = await asyncio.start_server(
                self._accept,
                s.host,
                s.port,
                ssl=context,
                limit=READ_SIZE,
                backlog=1024,
                reuse_port=s.workers > 1,  # several worker processes listen on this port
            )
        except OSError as exc:
            raise cannot_listen(exc, "MLLP", s.host, s.port, "--port or HL7BUS_MLLP_PORT") from None
        self.announce()

    def announce(self) -> None:
        """Say that it listens (once everything it serves is bound)."""
        s = self.settings
        log.info(
            "listening",
            extra=fields(
                host=s.host, port=self.port, connector=self.connector, tls=s.tls_cert is not None
            ),
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def drain(self) -> None:
        """Stop accepting; let each connection finish and answer what it has received."""
        self._draining.set()
        if self._server is not None:
            self._server.close()
        idle = [t for t in self._connections if not self._busy.get(t)]
        for task in idle:
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=self.settings.drain_timeout_s)
        for task in self._connections:
            task.cancel()
        log.info("drained", extra=fields(connector=self.connector))

    def health(self) -> dict:
        return self.metrics.health(
            not self._draining.is_set(),
            connector=self.connector,
            connections=len(self._connections),
        )

    # -- connections --------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = _peer(writer)
        if self._draining.is_set() or len(self._connections) >= self.settings.max_connections:
            self.metrics.label(self.metrics.refused).inc()
            log.warning(
                "connection refused: limit reached",
                extra=fields(peer=peer, limit=self.settings.max_connections),
            )
            writer.close()
            return
        self._connections.add(task)
        self.metrics.label(self.metrics.connections).inc()
        try:
            await self._serve(reader, writer, peer, task)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("connection lost", extra=fields(peer=peer, reason=type(exc).__name__))
        finally:
            self._connections.discard(task)
            self._busy.pop(task, None)
            self.metrics.label(self.metrics.connections).dec()
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        task: asyncio.Task,
    ) -> None:
        s = self.settings
        decoder = MllpDecoder(s.max_message_bytes)
        frame_deadline: float | None = None  # when the frame that has begun must be complete
        frames_seen = 0
        loop = asyncio.get_running_loop()
        while not self._draining.is_set():
            if not decoder.in_frame:
                frame_deadline, timeout = None, s.idle_timeout_s
            else:
                if frame_deadline is None or decoder.frames != frames_seen:
                    frame_deadline = loop.time() + s.frame_timeout_s
                    frames_seen = decoder.frames
                timeout = max(min(s.read_timeout_s, frame_deadline - loop.time()), 0)
            try:
                async with asyncio.timeout(timeout):  # no task per read, unlike wait_for
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                kind = "idle"
                if decoder.in_frame:
                    late = frame_deadline is not None and loop.time() >= frame_deadline
                    kind = "frame" if late else "read"
                self.metrics.label(self.metrics.timeouts, kind=kind).inc()
                log.info(
                    "connection closed: %s timeout",
                    kind,
                    extra=fields(peer=peer, pending_bytes=decoder.pending_bytes),
                )
                return
            if not data:
                return
            skipped = decoder.skipped_bytes
            frames = decoder.feed(data)
            if decoder.skipped_bytes > skipped:
                self.metrics.label(self.metrics.skipped_bytes).inc(decoder.skipped_bytes - skipped)
                log.warning(
                    "bytes outside any MLLP frame skipped",
                    extra=fields(peer=peer, count=decoder.skipped_bytes - skipped),
                )
            if not frames:
                continue
            self._busy[task] = True
            try:
                for found in frames:
                    started = time.perf_counter()
                    ack = await self.handle(found, peer)
                    writer.write(frame(ack))
                    await writer.drain()
                    self.metrics.label(self.metrics.ack_latency).observe(
                        time.perf_counter() - started
                    )
            finally:
                self._busy[task] = False

    # -- one message --------------------------------------------------------------------

    async def handle(self, found: Frame, peer: str) -> bytes:
        """Store one message and build its ACK.  Whatever goes wrong with this message is
        answered in its ACK; the connection goes on."""
        try:
            return await self._handle(found, peer)
        except Exception as exc:  # a bug in hl7bus: one bad message, not a resend loop
            return await self._internal_failure(found, peer, exc)

    async def _handle(self, found: Frame, peer: str) -> bytes:
        received = Received(
            found.payload, _now().isoformat(timespec="milliseconds"), self.connector, peer
        )
        header = read_header(found.payload)
        try:
            if found.oversized:
                delivered = await too_large_message(
                    self.ingestor,
                    self.store,
                    received,
                    header,
                    found.size,
                    self.settings.max_message_bytes,
                )
                self.metrics.dead_lettered(ErrorCode.MESSAGE_TOO_LARGE, header)
                log.warning(
                    "message over the size limit",
                    extra=fields(peer=peer, size=found.size, control_id=header.control_id),
                )
            else:
                delivered = await deliver(self.ingestor, self.store, received, header)
                self._count(delivered, header, peer, len(found.payload))
        except StoreError as exc:
            self.metrics.label(self.metrics.store_failures).inc()
            log.warning(
                "message not stored",
                extra=fields(peer=peer, control_id=header.control_id, reason=exc.message),
            )
            return self._ack(header, exc)
        return self._ack(header, delivered.error)

    async def _internal_failure(self, found: Frame, peer: str, exc: Exception) -> bytes:
        """When handling a message failed outside the delivery sequence: a dead letter if
        it can still be written, a metric, a log line without message content, and a
        reject that tells the sender not to resend."""
        header = read_header(found.payload)
        received = Received(
            found.payload, _now().isoformat(timespec="milliseconds"), self.connector, peer
        )
        try:
            delivered = await after_internal_error(self.ingestor, self.store, received, header, exc)
        except StoreError as store_error:
            return self._ack(header, store_error)
        self._count(delivered, header, peer, len(found.payload))
        try:
            return self._ack(header, delivered.error)
        except Exception:
            return self._ack(Header(), delivered.error)

    def _count(self, delivered: Delivered, header: Header, peer: str, size: int) -> None:
        error = delivered.error
        if error is None:
            self.metrics.label(self.metrics.events).inc(delivered.events)
            if delivered.without_events is not None:
                self.metrics.stored_without_events(delivered.without_events)
                log.info(
                    "message stored without events",
                    extra=fields(
                        peer=peer, control_id=header.control_id, type=delivered.without_events
                    ),
                )
            return
        self.metrics.dead_lettered(error.code, header)
        if error.code is ErrorCode.MESSAGE_TOO_LARGE:
            log.warning(
                "message over Kafka's record size limit",
                extra=fields(peer=peer, size=size, control_id=header.control_id),
            )
        else:
            internal = error.code is ErrorCode.INTERNAL
            log.log(
                logging.ERROR if internal else logging.INFO,
                "message failed with an internal error" if internal else "message rejected",
                extra=fields(
                    peer=peer,
                    control_id=header.control_id,
                    error=error.code.text,
                    segment=error.segment,
                    field=error.field,
                    detail=error.detail,
                ),
            )

    def _ack(self, header: Header, error: MessageError | None) -> bytes:
        """The ACK of what became of the message (``error`` None: stored), by the ACK
        policy and the sender profile's ``[ack]`` overrides."""
        overrides = None
        if error is not None:  # what a sender's profile may change
            profile = self.ingestor.profiles.for_sender(
                header.sending_application, header.sending_facility
            )
            overrides = profile.ack.overrides()
        code = ack_code(header, error, overrides)
        self.metrics.answered(code, header)
        return build_ack(
            header, code, now=_now(), ack_control_id=uuid.uuid4().hex[:20], error=error
        )


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


async def run(server: MllpServer, metrics_host: str, metrics_port: int | None) -> None:
    """Serve until SIGTERM or SIGINT, then drain and flush."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http = None
    if metrics_port is not None:  # bound first: "listening" means every port is bound
        http = await _serve_metrics(server, metrics_host, metrics_port)
    await server.start()
    await stop.wait()
    log.info("stopping: draining connections", extra=fields(connector=server.connector))
    await server.drain()
    if http is not None:
        http.close()
    left = await asyncio.to_thread(server.store.close, 10.0)
    log.info("stopped", extra=fields(connector=server.connector, undelivered=left))


async def _serve_metrics(server: MllpServer, host: str, port: int):
    from hl7bus.metrics import serve_http

    http = await serve_http(
        host,
        port,
        server.metrics.registry,
        server.health,
        setting="--metrics-port or HL7BUS_MLLP_METRICS_PORT",
    )
    log.info("metrics and health", extra=fields(url=f"http://{host}:{port}/metrics"))
    return http
