"""Tidying up after integration tests: their topics and subjects are deleted, so that
runs on one machine do not pile them up in the local broker and registry.

Every topic and subject a test run makes starts with :data:`RUN_PREFIX`, so that the end of
the run can check that none is left (:func:`leftovers`) without looking at what other runs
on the same broker and registry are doing."""

from __future__ import annotations

import contextlib
import uuid

RUN_PREFIX = f"test.{uuid.uuid4().hex[:8]}."


def forget(kafka_settings, registry_url: str | None, topics: list[str]) -> None:
    """Delete a test's topics and their ``-value`` subjects; best effort, since a broker
    that went away has nothing to keep."""
    from confluent_kafka.admin import AdminClient

    from hl7bus.kafka.clients import client_config, quiet_logger

    if not topics:
        return
    admin = AdminClient({**client_config(kafka_settings), "logger": quiet_logger()})
    for future in admin.delete_topics(topics, request_timeout=15).values():
        with contextlib.suppress(Exception):
            future.result(timeout=15)
    if registry_url:
        forget_subjects(registry_url, [f"{topic}-value" for topic in topics])


def forget_subjects(registry_url: str, subjects: list[str]) -> None:
    """Delete subjects for good, with their compatibility settings; best effort.

    A schema registry deletes a subject softly first (it is then only listed with
    ``?deleted=true``), and for good only when asked again with ``permanent=true``; Apicurio
    drops the subject's compatibility rule with it; a rule set on a subject that never got a
    schema is deleted on its own."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    client = SchemaRegistryClient({"url": registry_url, "timeout": 10})
    for subject in subjects:
        for permanent in (False, True):
            with contextlib.suppress(Exception):
                client.delete_subject(subject, permanent=permanent)
        with contextlib.suppress(Exception):
            client.delete_config(subject)


def leftovers(bootstrap_servers: str, registry_url: str, prefix: str = RUN_PREFIX) -> list[str]:
    """The topics and subjects (also softly deleted ones) whose names start with ``prefix``."""
    import json
    import urllib.request

    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    topics = admin.list_topics(timeout=15).topics
    with urllib.request.urlopen(f"{registry_url}/subjects?deleted=true", timeout=15) as answer:
        subjects = json.load(answer)
    return sorted(
        [f"topic {name}" for name in topics if name.startswith(prefix)]
        + [f"subject {name}" for name in subjects if name.startswith(prefix)]
    )
