"""How hl7bus talks to the schema registry: subjects named per topic, and no request that
can block forever.  A small registry stand-in on loopback records what the real client asks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka.serialization import MessageField, SerializationContext

from hl7bus.hl7.header import read_header
from hl7bus.ingest.records import Ingestor, Received, SchemaIds
from hl7bus.kafka import serde
from hl7bus.kafka.setup import register_record_schema
from hl7bus.kafka.topics import Topics
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.settings import RegistrySettings


class _Registry(BaseHTTPRequestHandler):
    """Answers a subject's compatibility setting, registration with id 1 and the schema by
    id; 404 (as a registry without the
    API would) for anything else.  With ``silent``, it reads requests and never answers."""

    protocol_version = "HTTP/1.1"
    paths: list[str]
    silent: bool
    conflicts: list[int]  # 409 answers still to give to PUT /config (a registry catching up)

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.paths.append(f"{self.command} {self.path.split('?')[0]}")
        if self.silent:
            time.sleep(30)
            return
        if self.command == "PUT" and self.path.startswith("/config/") and self.conflicts:
            self.conflicts.pop()
            message = "A rule named 'COMPATIBILITY' already exists."
            self._answer(409, {"error_code": 409, "message": message})
        elif self.command == "PUT" and self.path.startswith("/config/"):
            self._answer(200, {"compatibility": "BACKWARD"})
        elif self.command == "GET" and self.path.startswith("/config/"):
            self._answer(404, {"error_code": 40401, "message": "not readable yet"})
        elif self.command == "POST" and "/subjects/" in self.path:
            self._answer(200, {"id": 1})
        elif self.path.startswith("/schemas/ids/1"):
            self._answer(200, {"schema": serde.schema_text("RawMessage")})
        else:
            self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def _registry(*, silent: bool = False, conflicts: int = 0) -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []
    attributes = {"paths": paths, "silent": silent, "conflicts": [409] * conflicts}
    handler = type("Handler", (_Registry,), attributes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def test_records_go_to_the_subject_of_their_topic_and_nothing_else_is_asked():
    """The bus registers its schema as ``hl7bus setup`` does, writes a raw record with its
    own encoder, and Confluent's deserializer reads it back."""
    raw = b"MSH|^~\\&|LAB|NORTH|||20261128101500||ADT^A01|MSG-1|P|2.5\r"
    received = Received(raw, "2026-11-28T10:15:00+00:00", "mllp:test")
    with _registry() as (url, paths):
        client = serde.registry_client(RegistrySettings(url=url))
        schema_id = register_record_schema(client, "hl7.raw", "RawMessage")
        ingestor = Ingestor(Topics(), ProfileSet(), SchemaIds(raw=schema_id, events=0, dlq=0))
        data = ingestor.raw_record(received, read_header(raw)).value
        fresh = serde.registry_client(RegistrySettings(url=url))  # nothing cached
        context = SerializationContext("hl7.raw", MessageField.VALUE)
        back = serde.avro_deserializer(fresh)(data, context)
    assert data[:5] == b"\x00\x00\x00\x00\x01"  # Confluent wire format, schema id 1
    assert back["message_control_id"] == "MSG-1"
    assert back["raw"] == raw
    assert paths == [
        "PUT /config/hl7.raw-value",
        "POST /subjects/hl7.raw-value/versions",
        "GET /schemas/ids/1",
    ]


def test_a_registry_still_catching_up_is_asked_again_until_the_level_is_set():
    """Right after a restart Apicurio may answer 409 ("rule already exists") to PUT /config
    while it reads its journal; the level is set once it has caught up."""
    with _registry(conflicts=2) as (url, paths):
        client = serde.registry_client(RegistrySettings(url=url))
        assert register_record_schema(client, "hl7.raw", "RawMessage") == 1
    assert paths.count("PUT /config/hl7.raw-value") == 3
    assert paths[-1] == "POST /subjects/hl7.raw-value/versions"


def test_a_registry_that_never_answers_gives_an_error_not_a_hang():
    with _registry(silent=True) as (url, paths):
        client = serde.registry_client(RegistrySettings(url=url, timeout_s=0.3))
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            client.get_subjects()
        waited = time.monotonic() - started
    assert (
        "timed out" in str(caught.value).lower() or "timeout" in type(caught.value).__name__.lower()
    )
    assert len(paths) >= 2  # the timed-out request was retried
    assert waited < 20
