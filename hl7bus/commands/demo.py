"""``hl7bus demo``: play the sample feed into the MLLP connector and show what landed.

The feed (``hl7bus/samples/feed/``) is a day at a made-up hospital: registration
(NWADT), laboratory (LABSTAR), pharmacy (RXCARE), immunizations (IMMUNIZE), scheduling
(SCHEDULR), documents (DOCUWRITE) and a legacy billing system (OLDBILL): its BAR opens the
visit's account (an ENCOUNTER_CODED event); its ADT without a patient identifier goes to
the dead-letter topic with the reason, answered AR as its sender profile asks.

Then it asks the web front door for one patient's timeline with a clinician token, as any
client of the API would, and prints the token and the ``curl`` line that does the same.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hl7bus.errors import Hl7BusError
from hl7bus.hl7 import split_messages
from hl7bus.hl7.header import read_header
from hl7bus.kafka.topics import Topics
from hl7bus.mllp.client import MllpClient
from hl7bus.settings import DevStackSettings, KafkaSettings, RegistrySettings

DEMO_PATIENT = "NORTHWIND|NW100377"
"""The sample patient whose timeline the demo fetches: admitted, results, medications, a
transfer, a discharge and a note, from four vendor systems."""

API_WAIT_S = 10.0
"""How long the demo waits for this run's events of ``DEMO_PATIENT`` to reach the API."""


def sample_feed() -> list[Path]:
    folder = importlib.resources.files("hl7bus.samples").joinpath("feed")
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".hl7"))


def sample_profiles() -> Path:
    return Path(str(importlib.resources.files("hl7bus.samples").joinpath("profiles")))


def play(
    host: str, port: int, files: list[Path], timeout_s: float = 30.0
) -> list[tuple[str, str, str]]:
    """Send every message over one MLLP connection; (file, control id, ACK code) for each."""
    return asyncio.run(_play(host, port, files, timeout_s))


async def _play(
    host: str, port: int, files: list[Path], timeout_s: float
) -> list[tuple[str, str, str]]:
    answers = []
    try:
        client = await MllpClient.connect(host, port, timeout_s=timeout_s)
    except OSError as exc:
        why = exc.strerror or str(exc) or f"no answer within {timeout_s:g} s"
        raise Hl7BusError(
            f"no MLLP connector answers at {host}:{port} ({why}); "
            "start the stack with `hl7bus dev up`"
        ) from None
    async with client:
        for path in files:
            for message in split_messages(path.read_bytes()):
                try:
                    ack = (await client.send(message)).decode("utf-8", "replace")
                except TimeoutError:
                    raise Hl7BusError(
                        f"no ACK from the MLLP connector at {host}:{port} within {timeout_s:g} s"
                    ) from None
                except OSError:
                    raise Hl7BusError("the MLLP connector closed the connection") from None
                msa = next((s for s in ack.split("\r") if s.startswith("MSA")), "MSA||")
                code = msa.split("|")[1]
                answers.append((path.name, read_header(message).control_id, code))
    return answers


Offsets = dict[str, dict[int, int]]  # topic -> partition -> high watermark


def _consumer(kafka: KafkaSettings):  # type: ignore[no-untyped-def]
    from confluent_kafka import Consumer

    from hl7bus.kafka.clients import consumer_config, quiet_logger

    return Consumer(
        {**consumer_config(kafka, f"hl7bus-demo-{uuid.uuid4().hex[:8]}"), "logger": quiet_logger()}
    )


def high_watermarks(kafka: KafkaSettings, topics: Topics) -> Offsets:
    """Where each partition of the bus's topics ends now."""
    from confluent_kafka import TopicPartition

    consumer = _consumer(kafka)
    found: Offsets = {}
    for topic in topics.all():
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        found[topic] = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in (meta.partitions if meta else {})
        }
    consumer.close()
    return found


def read_between(
    kafka: KafkaSettings,
    registry: RegistrySettings,
    topic: str,
    start: dict[int, int],
    end: dict[int, int],
) -> list[dict]:
    """The records of ``topic`` from ``start`` to ``end``, decoded with the registry."""
    from confluent_kafka import TopicPartition

    from hl7bus.kafka import serde

    wanted = sum(end[p] - start.get(p, 0) for p in end)
    if wanted <= 0:
        return []
    decoder = serde.Decoder(registry)
    consumer = _consumer(kafka)
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in end])
    got: list[dict] = []
    deadline = time.monotonic() + 15
    while len(got) < wanted and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error() and msg.offset() < end[msg.partition()]:
            got.append(decoder.record(msg.value(), None))  # as written
    consumer.close()
    return got


def _detail(event: dict) -> str:
    """A few words on what an event says, for the demo's timeline."""
    payload, encounter = event["payload"], event["encounter"] or {}
    if payload["observations"]:
        return ", ".join(
            f"{o['display'] or o['code']} {o['value']} {o['units'] or ''}".strip()
            + (f" [{','.join(o['abnormal_flags'])}]" if o["abnormal_flags"] else "")
            for o in payload["observations"][:2]
        )
    if payload["medications"]:
        m = payload["medications"][0]
        return f"{m['display'] or m['code']} {m['dose'] or ''} {m['dose_units'] or ''}".strip()
    if payload["appointment"]:
        return f"slot {payload['appointment']['start']}"
    if payload["merge"]:
        return f"merges {payload['merge']['prior_patient_key']}"
    if payload["document"]:
        return f"{payload['document']['type']} ({payload['document']['status']})"
    location = encounter.get("location") or {}
    where = "/".join(
        x for x in (location.get("point_of_care"), location.get("room"), location.get("bed")) if x
    )
    return f"{encounter.get('class') or ''} {where}".strip()


def show(
    kafka: KafkaSettings, registry: RegistrySettings, topics: Topics, before: Offsets
) -> list[dict]:
    """Print what this run added to each topic, its events and dead letters; the events."""
    after = high_watermarks(kafka, topics)
    print("\nWhat landed (records added by this run / in all):")
    for topic in topics.all():
        added = sum(after[topic][p] - before.get(topic, {}).get(p, 0) for p in after[topic])
        print(f"  {topic:<18} +{added:<5} {sum(after[topic].values())}")
    events = read_between(
        kafka, registry, topics.events, before.get(topics.events, {}), after[topics.events]
    )
    print("\nThe patients' timeline, as the events of this run tell it:")
    for value in sorted(events, key=lambda v: v["occurred_at"] or ""):
        detail = _detail(value)
        print(
            f"  {value['occurred_at']}  {value['patient']['key']:<18} "
            f"{value['event_type']:<24} {detail[:90]}"
        )
    dead = read_between(kafka, registry, topics.dlq, before.get(topics.dlq, {}), after[topics.dlq])
    print("\nDead letters (raw bytes kept for replay):")
    for value in dead:
        control_id = value["message_control_id"] or "(no control id)"
        print(f"  {control_id}: {value['error_code']} — {value['error_message']}")
    return events


class _ApiRefusal(Exception):
    """The web API answered with an error (its sentence), or not at all."""


def _get_json(url: str, token: str | None = None) -> tuple[int, dict]:
    """GET ``url``: its status and JSON body; an answer that is not JSON is a refusal."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as refused:
        status, body = refused.code, refused.read()
    except (urllib.error.URLError, OSError) as exc:
        raise _ApiRefusal(
            f"the web API at {url.split('/api/')[0]} did not answer ({exc})"
        ) from None
    try:
        return status, json.loads(body)
    except ValueError:
        raise _ApiRefusal(f"the web API answered {status} without JSON") from None


def _web_answers(web_url: str) -> bool:
    try:
        _get_json(f"{web_url}/healthz")
        return True
    except _ApiRefusal:
        return False


def show_api(dev: DevStackSettings, events: list[dict]) -> None:
    """``DEMO_PATIENT``'s timeline through the web front door, once this run's events of the
    patient are in it (up to ``API_WAIT_S``); then a token and a ``curl`` line to try it."""
    from hl7bus.services.web.tokens import Role, create, signing_secret
    from hl7bus.settings import WebSettings

    web = dev.web_url
    if not _web_answers(web):
        print(
            f"\nThe web front door does not answer at {web}, so the demo skips the patient's "
            "timeline through the API (`hl7bus dev up` starts it)."
        )
        return
    try:
        secret = signing_secret(WebSettings(), dev)
    except Hl7BusError as exc:
        print(f"\nNo token for the web API, so the demo skips it: {exc}.")
        return
    token = create(secret, name="demo", role=Role.CLINICIAN, lifetime=timedelta(hours=8))
    path = f"{web}/api/v1/patients/{urllib.parse.quote(DEMO_PATIENT, safe='')}/timeline"
    wanted = {e["event_id"] for e in events if e["patient"]["key"] == DEMO_PATIENT}
    print(f"\nThe timeline of {DEMO_PATIENT} through the web API, as a clinician: ", end="")
    try:
        timeline = _wait_for_timeline(f"{path}?limit=1000", token, wanted)
    except _ApiRefusal as exc:
        print(f"not shown: {exc}.")
        return
    entries = timeline["entries"]
    print(f"{len(entries)}{'+' if timeline['next_cursor'] else ''} entries")
    for entry in entries[:3]:
        print(f"  {entry['occurred_at']}  {entry['event_type']:<24} {entry['summary']}")
    if len(entries) > 3:
        print("  ...")
    missing = len(wanted - {entry["event_id"] for entry in entries})
    if missing:
        print(
            f"  ({missing} of this run's {len(wanted)} events of the patient are not in it after "
            f"{API_WAIT_S:g} s: is the timeline service running? `hl7bus dev status` says.)"
        )
    print(f"\nTry the API yourself: {web}/api/v1 (described at {web}/docs).")
    print(
        "A clinician token, valid 8 h (`hl7bus token create --role clinician --name NAME` "
        "makes others), and the patient's timeline:"
    )
    print(f"  TOKEN={token}")
    print(f"""  curl -H "Authorization: Bearer $TOKEN" '{path}?limit=20'""")


def _wait_for_timeline(url: str, token: str, wanted: set[str]) -> dict:
    """The timeline's answer once ``wanted`` are all among its entries, or as it is after
    ``API_WAIT_S``.  Until then an unknown patient is a timeline not built yet, and a 503 a
    store or audit that is not ready yet; any other refusal is :class:`_ApiRefusal`."""
    deadline = time.monotonic() + API_WAIT_S
    while True:
        status, body = _get_json(url, token)
        if status == 200:
            if wanted <= {entry["event_id"] for entry in body["entries"]}:
                return body
        elif status == 404 and time.monotonic() > deadline:
            raise _ApiRefusal(
                f"the web API does not know the patient after {API_WAIT_S:g} s; is the timeline "
                "service running? (`hl7bus dev status` says)"
            )
        elif status not in (404, 503) or time.monotonic() > deadline:
            why = body.get("message") or body.get("error") or "no reason given"
            raise _ApiRefusal(f"the web API answered {status} ({why})")
        if time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def run(host: str | None, port: int | None) -> int:
    """Play the feed into the dev stack's connector (``HL7BUS_DEV_*``, or host/port given),
    show what landed, and a patient's timeline through the dev stack's web front door."""
    from hl7bus.kafka.clients import require_reachable

    dev = DevStackSettings()
    host, port = host or dev.host, port or dev.mllp_port
    kafka = KafkaSettings(bootstrap_servers=dev.bootstrap_servers)
    registry = RegistrySettings(url=dev.registry_url)
    topics = Topics.with_prefix(kafka.topic_prefix)
    require_reachable(kafka)
    before = high_watermarks(kafka, topics)
    files = sample_feed()
    print(f"Playing the sample feed ({len(files)} vendor systems) into MLLP at {host}:{port}:")
    answers = play(host, port, files)
    for name, control_id, code in answers:
        print(f"  {code}  {control_id:<18} {name}")
    summary = Counter(code for _, _, code in answers)
    print("  " + ", ".join(f"{code} {n}" for code, n in sorted(summary.items())))
    events = show(kafka, registry, topics, before)
    show_api(dev, events)
    return 0
