"""The schema registry and Confluent wire-format serde for the bus's records.

Records are written as Confluent's wire format (magic byte 0, 4-byte schema id,
Avro binary), so any Kafka client with a schema registry can read the bus.  The bus
writes them with its own checked encoder (:mod:`hl7bus.avro.writer`, through
:class:`hl7bus.ingest.records.Ingestor`), which refuses a value its schema cannot carry;
Confluent's deserializer reads them.  The bus's services read them with :class:`Decoder`:
the writer's schema from the registry by id, the bus's current schema as the reader's,
each pair compiled once (:mod:`hl7bus.avro.reader`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hl7bus.avro.reader import AvroDecodeError, Reader, compile_reader
from hl7bus.avro.schemas import SCHEMA_FILES, parsed_schema, schema_text  # noqa: F401 - re-exported
from hl7bus.avro.writer import compile_writer
from hl7bus.errors import Hl7BusError
from hl7bus.logs import fields
from hl7bus.settings import RegistrySettings

log = logging.getLogger("hl7bus.kafka")

EXAMPLE_URL = "http://127.0.0.1:8081/apis/ccompat/v7"


def wire_writer(record: str, schema_id: int) -> Callable[[Mapping[str, Any]], bytes]:
    """The writer of ``record``'s dicts (``AccessAudit``, ``ClinicalAlert``, …) in Confluent's
    wire format: magic byte 0, the registry's ``schema_id``, then the Avro binary of the
    bus's checked encoder."""
    header = struct.pack(">bI", 0, schema_id)
    encode = compile_writer(json.loads(schema_text(record)))
    return lambda value: header + encode(value)


def registry_client(settings: RegistrySettings):  # -> SchemaRegistryClient
    from confluent_kafka.schema_registry import SchemaRegistryClient

    # Without a timeout a request the registry never answers would block its caller forever.
    config: dict[str, Any] = {"url": settings.url, "timeout": settings.timeout_s}
    if settings.basic_auth is not None:
        config["basic.auth.user.info"] = settings.basic_auth.get_secret_value()
    return SchemaRegistryClient(config)


@contextlib.contextmanager
def registry_errors(settings: RegistrySettings) -> Iterator[None]:
    """Turn a failure of the registry's HTTP API inside the block — no registry answers,
    or the URL answers but is no schema registry — into an
    :class:`~hl7bus.errors.Hl7BusError` of one sentence naming the URL."""
    import json

    try:
        yield
    except (*_http_errors(), json.JSONDecodeError) as exc:
        raise registry_error(settings, exc) from None


def _http_errors() -> tuple[type[Exception], ...]:
    """The registry client's errors (confluent-kafka's client uses httpx2 or httpx)."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    found: list[type[Exception]] = [SchemaRegistryError]
    for name in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            found.append(importlib.import_module(name).HTTPError)
    return tuple(found)


def registry_error(settings: RegistrySettings, exc: Exception) -> Hl7BusError:
    """One sentence for what the registry at ``settings.url`` answered (or did not)."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    url = settings.url
    if not isinstance(exc, SchemaRegistryError | ValueError):  # the HTTP client's
        if "Timeout" in type(exc).__name__:
            return Hl7BusError(
                f"the schema registry at {url} did not answer within "
                f"{settings.timeout_s:g} s; check that it runs, or set HL7BUS_REGISTRY_URL "
                "(and HL7BUS_REGISTRY_TIMEOUT_S)"
            )
        reason = re.sub(r"^\[Errno -?\d+\] ", "", str(exc)) or type(exc).__name__
        return Hl7BusError(
            f"the schema registry at {url} does not answer ({reason}); start it with "
            "`hl7bus dev up` or set HL7BUS_REGISTRY_URL"
        )
    status = getattr(exc, "http_status_code", None)
    registry_code = getattr(exc, "error_code", None)
    if status in (401, 403):
        return Hl7BusError(
            f"the schema registry at {url} refused hl7bus's credentials (HTTP {status}); "
            "check HL7BUS_REGISTRY_BASIC_AUTH"
        )
    if isinstance(registry_code, int) and registry_code > 0:  # the registry's own error
        return Hl7BusError(
            f"the schema registry at {url} refused the bus's schemas (HTTP {status}, error "
            f"{registry_code}: {getattr(exc, 'error_message', '')})"
        )
    answer = f"HTTP {status}" if status else "an answer that is not a registry's JSON"
    return Hl7BusError(
        f"{url} answers HTTP but is not a schema registry ({answer}); set "
        f"HL7BUS_REGISTRY_URL to the registry's Confluent API, e.g. {EXAMPLE_URL}"
    )


def _subject_per_topic() -> dict[str, Any]:
    """The bus's subjects are ``<topic>-value`` (Confluent's TopicNameStrategy), named
    explicitly: newer clients otherwise look for subject associations first, an API that
    Confluent-compatible registries such as Apicurio do not serve."""
    from confluent_kafka.schema_registry import topic_subject_name_strategy

    return {"subject.name.strategy": topic_subject_name_strategy}


def avro_deserializer(client, name: str | None = None):
    """A Confluent ``AvroDeserializer``; with ``name``, that schema is the reader's schema."""
    from confluent_kafka.schema_registry.avro import AvroDeserializer

    return AvroDeserializer(client, schema_text(name) if name else None, conf=_subject_per_topic())


class RegistryUnavailable(Hl7BusError):
    """The schema registry did not answer: the record waits (it is not bad)."""


class Undecodable(Hl7BusError):
    """A record that is not Avro in Confluent's wire format of a schema the registry has."""


class Decoder:
    """Records in Confluent's wire format, as every service of the bus reads them: the
    writer's schema from the registry by id (fetched once), the bus's own schema of the
    record type as the reader's, the pair compiled once into a decoder that returns what
    fastavro's ``schemaless_reader`` returns (:func:`hl7bus.avro.reader.compile_reader`).
    ``client`` is the registry client (by default one for ``registry``)."""

    def __init__(self, registry: RegistrySettings, client: Any = None) -> None:
        self._settings = registry
        self._client = client if client is not None else registry_client(registry)
        self._readers: dict[tuple[int, str | None], Reader] = {}

    def record(self, data: bytes | None, reader: str | None) -> dict[str, Any]:
        """The record in ``data`` as the bus's ``reader`` record type reads it (e.g.
        ``"ClinicalEvent"``; None: as it was written).  :class:`Undecodable` for bytes that
        are not such a record, :class:`RegistryUnavailable` while the registry does not
        answer."""
        if not data or len(data) < 5 or data[0] != 0:
            raise Undecodable("not in Confluent's wire format")
        schema_id = int.from_bytes(data[1:5], "big")
        decode = self._readers.get((schema_id, reader))
        if decode is None:
            decode = self._readers[(schema_id, reader)] = self._compile(schema_id, reader)
        try:
            return decode.read(data, 5)
        except AvroDecodeError as exc:  # names the field, never the value
            raise Undecodable(f"not Avro of schema {schema_id}: {exc}") from exc

    def prepare(self, subject: str, reader: str | None) -> None:
        """Fetch and compile now the decoder of ``subject``'s latest schema, which the
        records to come are most likely written in, so that the first of them does not
        wait for the registry and the compiler.  A subject not registered yet, or a registry
        that does not answer, leaves it to the first record."""
        try:
            latest = self._client.get_latest_version(subject)
        except Exception:  # only a head start: record() says what is wrong
            return
        key = (latest.schema_id, reader)
        if key not in self._readers:
            try:
                self._readers[key] = self._compile(latest.schema_id, reader)
            except (Undecodable, RegistryUnavailable):
                return

    def _compile(self, schema_id: int, reader: str | None) -> Reader:
        import fastavro
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            text = self._client.get_schema(schema_id).schema_str
        except SchemaRegistryError as exc:
            if getattr(exc, "http_status_code", None) == 404:
                raise Undecodable(f"schema id {schema_id} is not in the registry") from exc
            raise RegistryUnavailable(str(registry_error(self._settings, exc))) from exc
        except Exception as exc:  # the HTTP client's: no answer
            raise RegistryUnavailable(str(registry_error(self._settings, exc))) from exc
        try:
            writer = fastavro.parse_schema(json.loads(text))
            decode = compile_reader(writer, parsed_schema(reader) if reader else None)
        except Exception as exc:
            raise Undecodable(f"schema id {schema_id} is not an Avro schema") from exc
        if decode.fallback:
            log.info(
                "records of this schema are read by fastavro",
                extra=fields(schema_id=schema_id, reader=reader, why=decode.fallback),
            )
        return decode
