"""The bus's contract end to end: a schema from schemas/ registered with the registry, an
Avro record in Confluent wire format written by the bus's own encoder, through the real
broker, read back with confluent-kafka's own AvroDeserializer."""

from __future__ import annotations

import struct

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from hl7bus.hl7.header import read_header
from hl7bus.ingest.records import Ingestor, Received, SchemaIds
from hl7bus.kafka import serde
from hl7bus.kafka.clients import consumer_config, producer_config
from hl7bus.kafka.topics import Topics
from hl7bus.mapping.profiles import ProfileSet

pytestmark = pytest.mark.integration


def _consume_one(kafka_settings, topic: str, group: str, timeout_s: float = 30.0):
    consumer = Consumer(consumer_config(kafka_settings, group))
    consumer.subscribe([topic])
    try:
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            return msg
        raise AssertionError(f"nothing arrived on {topic} within {timeout_s} s")
    finally:
        consumer.close()


def test_raw_message_round_trips_in_confluent_wire_format(
    kafka_settings, registry_settings, new_topic, unique_name
):
    topic = new_topic("raw")
    client = serde.registry_client(registry_settings)
    subject = f"{topic}-value"
    from confluent_kafka.schema_registry import Schema

    schema_id = client.register_schema(subject, Schema(serde.schema_text("RawMessage"), "AVRO"))
    assert isinstance(schema_id, int)

    raw = b"MSH|^~\\&|LAB|GENHOSP|||20261128101500+0100||ORU^R01|CTRL-1|P|2.5.1\r"
    received = Received(raw, "2026-11-28T10:15:00.123+01:00", "test", "127.0.0.1:40000")
    ingestor = Ingestor(Topics(raw=topic), ProfileSet(), SchemaIds(raw=schema_id, events=0, dlq=0))
    out = ingestor.raw_record(received, read_header(raw))  # the bus's own encoder
    value = out.value
    magic, written_id = struct.unpack(">bI", value[:5])
    assert magic == 0
    assert written_id == schema_id
    assert (out.topic, out.key) == (topic, b"GENHOSP|CTRL-1")

    producer = Producer(producer_config(kafka_settings))
    delivered = []
    producer.produce(
        topic,
        key=b"GENHOSP|CTRL-1",
        value=value,
        on_delivery=lambda err, msg: delivered.append((err, msg)),
    )
    assert producer.flush(30) == 0
    assert delivered and delivered[0][0] is None

    msg = _consume_one(kafka_settings, topic, unique_name("group"))
    deserializer = serde.avro_deserializer(client)  # the writer's schema, fetched by id
    decoded = deserializer(msg.value(), SerializationContext(topic, MessageField.VALUE))
    assert decoded == {
        "raw": raw,
        "received_at": "2026-11-28T10:15:00.123+01:00",
        "connector": "test",
        "peer": "127.0.0.1:40000",
        "charset": None,
        "sending_application": "LAB",
        "sending_facility": "GENHOSP",
        "message_control_id": "CTRL-1",
        "message_type": "ORU",
        "trigger_event": "R01",
        "version": "2.5.1",
        "replay": None,
    }
    assert msg.key() == b"GENHOSP|CTRL-1"


def test_every_schema_registers(registry_settings, new_subject):
    from confluent_kafka.schema_registry import Schema

    client = serde.registry_client(registry_settings)
    ids = {}
    for name in serde.SCHEMA_FILES:
        ids[name] = client.register_schema(
            new_subject(name), Schema(serde.schema_text(name), "AVRO")
        )
        fetched = client.get_schema(ids[name])
        assert fetched.schema_type == "AVRO"
        assert name in fetched.schema_str
    assert len(set(ids.values())) == len(ids)
