"""The schema registry and Confluent wire-format serde for the bus's records.

Records are written as Confluent's wire format (magic byte 0, 4-byte schema id,
Avro binary), so any Kafka client with a schema registry can read the bus.  The bus
writes them with its own checked encoder (:mod:`hl7bus.avro.writer`, through
:class:`hl7bus.ingest.records.Ingestor`), which refuses a value its schema cannot carry;
Confluent's deserializer reads them.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator
from typing import Any

from hl7bus.avro.schemas import SCHEMA_FILES, parsed_schema, schema_text  # noqa: F401 - re-exported
from hl7bus.errors import Hl7BusError
from hl7bus.settings import RegistrySettings

EXAMPLE_URL = "http://127.0.0.1:8081/apis/ccompat/v7"


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
