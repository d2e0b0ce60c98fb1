"""``hl7bus demo``: play the sample feed into the MLLP connector and show what landed.

The feed (``hl7bus/samples/feed/``) is a day at a made-up hospital: registration
(NWADT), laboratory (LABSTAR), pharmacy (RXCARE), immunizations (IMMUNIZE), scheduling
(SCHEDULR), documents (DOCUWRITE) and a legacy billing system whose messages hl7bus
does not translate — those go to the dead-letter topic with the reason.
"""

from __future__ import annotations

import importlib.resources
import socket
import time
import uuid
from collections import Counter
from pathlib import Path

from hl7bus.connectors.mllp.framing import MllpDecoder, frame
from hl7bus.envelope import read_envelope
from hl7bus.errors import Hl7BusError
from hl7bus.hl7 import split_messages
from hl7bus.settings import KafkaSettings, RegistrySettings
from hl7bus.topics import Topics


def sample_feed() -> list[Path]:
    folder = importlib.resources.files("hl7bus.samples").joinpath("feed")
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".hl7"))


def sample_profiles() -> Path:
    return Path(str(importlib.resources.files("hl7bus.samples").joinpath("profiles")))


def play(host: str, port: int, files: list[Path], timeout_s: float = 30.0) -> list[tuple[str, str, str]]:
    """Send every message over one MLLP connection; (file, control id, ACK code) for each."""
    answers = []
    try:
        conn = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise Hl7BusError(
            f"no MLLP connector answers at {host}:{port} ({exc.strerror or exc}); "
            "start the stack with `hl7bus dev up`"
        ) from None
    with conn:
        decoder = MllpDecoder(1 << 20)
        for path in files:
            for message in split_messages(path.read_bytes()):
                conn.sendall(frame(message))
                acks = []
                while not acks:
                    data = conn.recv(65536)
                    if not data:
                        raise Hl7BusError("the MLLP connector closed the connection")
                    acks = decoder.feed(data)
                ack = acks[0].payload.decode("utf-8", "replace")
                msa = next((s for s in ack.split("\r") if s.startswith("MSA")), "MSA||")
                code = msa.split("|")[1]
                answers.append((path.name, read_envelope(message).control_id, code))
    return answers


def show_topics(kafka: KafkaSettings, registry: RegistrySettings, topics: Topics,
                since: dict[str, int]) -> None:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.serialization import MessageField, SerializationContext

    from hl7bus import serde
    from hl7bus.kafka import consumer_config, quiet_logger

    consumer = Consumer({**consumer_config(kafka, f"hl7bus-demo-{uuid.uuid4().hex[:8]}"),
                         "logger": quiet_logger()})
    print("\nWhat landed (records added by this run / in all):")
    ends: dict[str, list[tuple[int, int, int]]] = {}
    for topic in topics.all():
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        spans = []
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            spans.append((partition, low, high))
        ends[topic] = spans
        total = sum(high - low for _, low, high in spans)
        print(f"  {topic:<18} +{total - since.get(topic, 0):<5} {total}")
    deserializer = serde.avro_deserializer(serde.registry_client(registry))
    for topic, title in ((topics.events, "Latest clinical events"), (topics.dlq, "Dead letters")):
        spans = ends[topic]
        consumer.assign([TopicPartition(topic, p, max(low, high - 3)) for p, low, high in spans])
        wanted = sum(min(3, high - low) for _, low, high in spans)
        got = []
        deadline = time.monotonic() + 10
        while len(got) < wanted and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(deserializer(msg.value(), SerializationContext(topic, MessageField.VALUE)))
        print(f"\n{title}:")
        for value in got[-6:]:
            if topic == topics.events:
                payload = value["payload"]
                detail = ", ".join(
                    f"{o['display'] or o['code']} {o['value']} {o['units'] or ''}".strip()
                    for o in payload["observations"][:2]
                )
                print(f"  {value['occurred_at']}  {value['event_type']:<24} {value['patient']['key']:<20} {detail}")
            else:
                control_id = value["message_control_id"] or "(no control id)"
                print(f"  {control_id}: {value['error_code']} — {value['error_message']}")
    consumer.close()


def counts(kafka: KafkaSettings, topics: Topics) -> dict[str, int]:
    from confluent_kafka import Consumer, TopicPartition

    from hl7bus.kafka import consumer_config, quiet_logger

    consumer = Consumer({**consumer_config(kafka, "hl7bus-demo-counts"), "logger": quiet_logger()})
    found = {}
    for topic in topics.all():
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        total = 0
        for partition in (meta.partitions if meta else {}):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        found[topic] = total
    consumer.close()
    return found


def run(host: str | None, port: int | None) -> int:
    """Play the feed into the dev stack's connector (``HL7BUS_DEV_*``, or host/port given)."""
    from hl7bus.kafka import require_reachable
    from hl7bus.settings import DevStackSettings

    dev = DevStackSettings()
    host, port = host or dev.host, port or dev.mllp_port
    kafka = KafkaSettings(bootstrap_servers=dev.bootstrap_servers)
    registry = RegistrySettings(url=dev.registry_url)
    topics = Topics.with_prefix(kafka.topic_prefix)
    require_reachable(kafka)
    before = counts(kafka, topics)
    files = sample_feed()
    print(f"Playing the sample feed ({len(files)} vendor systems) into MLLP at {host}:{port}:")
    answers = play(host, port, files)
    for name, control_id, code in answers:
        print(f"  {code}  {control_id:<18} {name}")
    summary = Counter(code for _, _, code in answers)
    print("  " + ", ".join(f"{code} {n}" for code, n in sorted(summary.items())))
    show_topics(kafka, registry, topics, before)
    return 0
