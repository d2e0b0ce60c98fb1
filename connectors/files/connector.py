"""The pickup loop: scan the folder, store each arrived file's messages, file it away.

Files are handled one at a time, oldest first, so a sender's messages keep their order.
A file whose messages Kafka did not take stays where it is and is tried again after a
growing delay; the rest of that round waits too, since Kafka is likely away for them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from prometheus_client import Counter

from hl7bus.connectors.files import folder
from hl7bus.connectors.files.arrival import ArrivalWatch, Seen
from hl7bus.connectors.files.delivery import FileDelivery
from hl7bus.connectors.files.placement import (
    Folder,
    MessageResult,
    Outcome,
    folder_for,
    result_document,
)
from hl7bus.hl7.header import PREFIX_KEPT
from hl7bus.kafka.producer import StoreError
from hl7bus.logs import fields
from hl7bus.metrics import ConnectorMetrics, start_at_zero
from hl7bus.settings import FileSettings

log = logging.getLogger("hl7bus.files")


class FileConnector:
    def __init__(
        self, settings: FileSettings, delivery: FileDelivery, metrics: ConnectorMetrics
    ) -> None:
        self.settings = settings
        self.directory = settings.directory
        self.delivery = delivery
        self.metrics = metrics
        self.connector = delivery.connector
        self.watch = ArrivalWatch(settings.settle_s, settings.retry_initial_s, settings.retry_max_s)
        self.stopping = asyncio.Event()
        registry = metrics.registry
        self.filed = Counter(
            "hl7bus_files",
            "Files filed away, by folder",
            ["connector", "folder"],
            registry=registry,
        )
        self.outcomes = Counter(
            "hl7bus_files_messages",
            "Messages of filed files, by outcome",
            ["connector", "outcome"],
            registry=registry,
        )
        self.deferred = Counter(
            "hl7bus_files_deferred",
            "Files left in place because Kafka did not store their messages",
            ["connector"],
            registry=registry,
        )
        start_at_zero(self.filed, self.connector, "folder", (f.value for f in Folder))
        start_at_zero(self.outcomes, self.connector, "outcome", (o.value for o in Outcome))
        start_at_zero(self.deferred, self.connector)

    def health(self) -> dict:
        return self.metrics.health(
            not self.stopping.is_set(),
            connector=self.connector,
            waiting_files=self.watch.waiting,
        )

    def stop(self) -> None:
        """Stop after the file in hand."""
        self.stopping.set()

    async def run(self) -> None:
        """Pick up files until :meth:`stop`; the file in hand is always finished first."""
        log.info(
            "watching",
            extra=fields(
                connector=self.connector,
                directory=str(self.directory),
                settle_s=self.settings.settle_s,
            ),
        )
        while not self.stopping.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.settings.poll_interval_s)

    async def poll_once(self) -> None:
        """One scan of the folder; every arrived file is stored and filed away."""
        try:
            scan = await asyncio.to_thread(folder.scan, self.directory)
        except OSError as exc:
            log.error(
                "cannot read the folder",
                extra=fields(directory=str(self.directory), reason=exc.strerror or str(exc)),
            )
            return
        for seen in self.watch.observe(scan, time.time()):
            if self.stopping.is_set() or not await self.pick_up(seen):
                return

    async def pick_up(self, seen: Seen) -> bool:
        """Store the file's messages and file it away; False when Kafka did not take them."""
        limit = self.settings.max_file_bytes
        oversized = seen.size > limit
        try:
            wanted = PREFIX_KEPT if oversized else seen.size + 1
            data = await asyncio.to_thread(folder.read, self.directory / seen.name, wanted)
        except FileNotFoundError:
            self.watch.finished(seen.name)
            return True
        except OSError as exc:
            delay = self.watch.failed(seen.name, time.time())
            log.warning(
                "cannot read the file",
                extra=fields(file=seen.name, reason=exc.strerror or str(exc), retry_in_s=delay),
            )
            return True
        if not oversized and len(data) != seen.size:
            return True  # it changed since the scan: not arrived after all
        log.info("file arrived", extra=fields(file=seen.name, size=seen.size))
        started = time.perf_counter()
        try:
            if oversized:
                results = await self.delivery.deliver_oversized(seen.name, data, seen.size, limit)
            else:
                results = await self.delivery.deliver(seen.name, data)
        except StoreError as exc:
            self.metrics.label(self.metrics.store_failures).inc()
            self.metrics.label(self.deferred).inc()
            delay = self.watch.failed(seen.name, time.time())
            log.warning(
                "file not stored; it stays for a later try",
                extra=fields(file=seen.name, reason=exc.message, retry_in_s=delay),
            )
            return False
        await self._file_away(seen.name, results, time.perf_counter() - started)
        return True

    async def _file_away(self, name: str, results: list[MessageResult], took_s: float) -> None:
        destination = folder_for(results)
        document = result_document(
            name, self.connector, results, datetime.now(UTC).isoformat(timespec="milliseconds")
        )
        try:
            final = await asyncio.to_thread(
                folder.file_away, self.directory, name, destination, document
            )
        except OSError as exc:
            # Everything is stored; sending the file again later is harmless.
            delay = self.watch.failed(name, time.time())
            log.error(
                "file stored but not moved",
                extra=fields(
                    file=name,
                    folder=destination.value,
                    reason=exc.strerror or str(exc),
                    retry_in_s=delay,
                ),
            )
            return
        self.watch.finished(name)
        self.metrics.label(self.filed, folder=destination.value).inc()
        for result in results:
            self.metrics.label(self.outcomes, outcome=result.outcome.value).inc()
        log.info(
            "file done",
            extra=fields(
                file=name,
                filed_as=f"{destination.value}/{final}",
                messages=len(results),
                dead_letter=sum(r.error_code is not None for r in results),
                took_ms=round(took_s * 1000, 1),
            ),
        )
