"""Tidying up after integration tests: their topics and subjects are deleted, so that
runs on one machine do not pile them up in the local broker and registry."""

from __future__ import annotations

import contextlib


def forget(kafka_settings, registry_url: str | None, topics: list[str]) -> None:
    """Delete a test's topics and their ``-value`` subjects, so that runs on one machine
    do not pile them up; best effort, since a broker that went away has nothing to keep."""
    from confluent_kafka.admin import AdminClient

    from hl7bus.kafka.clients import client_config, quiet_logger

    if not topics:
        return
    admin = AdminClient({**client_config(kafka_settings), "logger": quiet_logger()})
    for future in admin.delete_topics(topics, request_timeout=15).values():
        with contextlib.suppress(Exception):
            future.result(timeout=15)
    if registry_url:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        client = SchemaRegistryClient({"url": registry_url, "timeout": 10})
        for topic in topics:
            for permanent in (False, True):
                try:
                    client.delete_subject(f"{topic}-value", permanent=permanent)
                except Exception:
                    break
