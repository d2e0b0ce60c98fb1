"""librdkafka's own log lines go through hl7bus's JSON logging: a process whose Kafka
clients cannot reach their broker writes nothing on stderr but JSON objects."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# The bus's producer (the connectors' KafkaStore), a consumer and an admin client, each
# built as hl7bus builds them, against a port where no broker listens.
CLIENTS = textwrap.dedent(
    """
    import time
    from confluent_kafka import Consumer, KafkaException
    from hl7bus import logs
    from hl7bus.kafka.clients import consumer_config, ensure_topics
    from hl7bus.kafka.producer import KafkaStore
    from hl7bus.settings import KafkaSettings

    logs.setup()
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    store = KafkaStore(kafka, timeout_s=1)
    consumer = Consumer(consumer_config(kafka, "logging-test"))
    consumer.subscribe(["hl7.raw"])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        consumer.poll(0.1)
    consumer.close()
    try:
        ensure_topics(kafka, ["hl7.raw"], timeout_s=1)
    except KafkaException:
        pass
    store.close(0.5)
    """
)


def test_librdkafka_lines_are_json_log_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLIENTS], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    librdkafka = [e for e in entries if e["logger"] == "hl7bus.kafka.librdkafka"]
    clients = {e.get("client", "").split("#")[-1].split("-")[0] for e in librdkafka}
    assert {"producer", "consumer"} <= clients, entries
    assert any("Connection refused" in e["msg"] for e in librdkafka), entries
    for entry in librdkafka:
        assert entry["level"] in {"debug", "info", "warning", "error", "critical"}
        assert entry["facility"], entry
