"""The alerts service end to end, through the real broker and registry: HL7 in through the
MLLP connector and each rule's alert on ``clinical.alerts`` (committed, read with
``read_committed``), once, also when the same message is sent twice; and the service
SIGKILLed at random points during a stream of events and restarted, after which every
alert the rules give for those events is on the topic exactly once."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cleanup import RUN_PREFIX
from service_support import Feed, ServiceProcess, launch_service

from hl7bus.events.model import ClinicalEvent, EventType, Observation, Payload
from hl7bus.hl7 import split_messages
from hl7bus.services.alerts.engine import evaluate
from hl7bus.services.alerts.rules import load_rules
from hl7bus.services.alerts.state import PatientState

from conftest import BusTopics, free_port, read_topic
from mllp_support import exchange
from timeline_events import event

pytestmark = pytest.mark.integration

MESSAGES = Path(__file__).resolve().parents[1] / "messages"


@pytest.fixture
def start_alerts(bus_topics: BusTopics, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """``hl7bus service alerts [args]`` as a process of its own, in a consumer group of this
    test; returned once it has partitions assigned (or, with ``ready`` False, once it
    runs).  Killed after the test."""
    group = f"{RUN_PREFIX}alerts.{uuid.uuid4().hex[:8]}"
    started: list[ServiceProcess] = []

    def start(*args: str, ready: bool = True, **settings: str) -> ServiceProcess:
        port = free_port()
        env = {
            **os.environ,
            **bus_topics.env(),
            "HL7BUS_ALERTS_GROUP": group,
            "HL7BUS_ALERTS_METRICS_PORT": str(port),
            **settings,
        }
        log = tmp_path / f"alerts-{len(started)}.log"
        return launch_service("alerts", list(args), env, log, started, ready=ready, timeout=90)

    yield start
    for running in started:
        running.stop(signal.SIGKILL)


def raised(bus_topics: BusTopics, *, at_least: int = 0, quiet_s: float = 2.0) -> list[dict]:
    """The RAISED alert records on the test's alerts topic (committed ones only)."""
    records = read_topic(
        bus_topics, bus_topics.topics.alerts, at_least=at_least, timeout=60, quiet_s=quiet_s
    )
    return [r.value for r in records if r.value.get("status", "RAISED") == "RAISED"]


def messages_of(name: str) -> list[bytes]:
    return list(split_messages((MESSAGES / name).read_bytes()))


def test_a_critical_potassium_over_mllp_is_one_critical_value_alert_also_when_sent_twice(
    bus_topics: BusTopics, start_mllp, start_alerts
) -> None:
    connector = start_mllp()
    start_alerts()
    (message,) = messages_of("oru-r01-critical-potassium.hl7")
    assert exchange(connector.port, message).code == "AA"
    raised(bus_topics, at_least=1, quiet_s=1.0)
    assert exchange(connector.port, message).code == "AA"  # the sender resends it
    time.sleep(2)
    alerts = raised(bus_topics, at_least=1)
    assert [a["rule"] for a in alerts] == ["critical-value"], alerts
    (alert,) = alerts
    assert alert["severity"] == "CRITICAL"
    assert alert["patient_key"] == "NORTHWARD|NW448120"
    assert alert["attributes"]["code"] == "2823-3"
    assert "6.8" in alert["detail"] and "mmol/L" in alert["detail"]
    assert alert["event_ids"], "the alert names the events that raised it"


def test_deteriorating_vital_signs_over_mllp_raise_news2_with_the_score(
    bus_topics: BusTopics, start_mllp, start_alerts
) -> None:
    connector = start_mllp()
    start_alerts()
    first, second = messages_of("oru-r01-vital-signs-deteriorating.hl7")
    assert exchange(connector.port, first).code == "AA"
    assert exchange(connector.port, second).code == "AA"
    everything = raised(bus_topics, at_least=3)
    alerts = [a for a in everything if a["rule"] == "news2"]
    assert len(alerts) == 1, alerts  # the first set scores 0: no alert
    (alert,) = alerts
    # The same second set meets qSOFA (RR 25 >= 22, systolic 98 <= 100) and SIRS
    # (38.4 °C > 38, pulse 112 > 90, RR 25 > 20); the first set meets neither.
    others = {a["rule"]: a for a in everything if a["rule"] != "news2"}
    assert set(others) == {"qsofa", "sirs"}, everything
    assert all(len(a["event_ids"]) == 1 for a in others.values()), others
    attributes = alert["attributes"]
    # By hand, from the chart: RR 25 -> 3, SpO2 91 (scale 1) -> 3, oxygen -> 2,
    # systolic 98 -> 2, pulse 112 -> 2, alert -> 0, 38.4 °C -> 1: 13.
    assert attributes["score"] == "13"
    assert (attributes["respiration_rate"], attributes["spo2"]) == ("3", "3")
    assert (attributes["air_or_oxygen"], attributes["systolic_bp"]) == ("2", "2")
    assert (attributes["pulse"], attributes["consciousness"]) == ("2", "0")
    assert attributes["temperature"] == "1"
    assert alert["severity"] == "CRITICAL"


def expected_alert_ids(events: list[ClinicalEvent]) -> Counter:
    """The alerts the default rules give for ``events``, patient by patient in order: the
    pure engine, as the service runs it."""
    rules = load_rules(None)
    states: dict[str, PatientState] = {}
    found: Counter = Counter()
    now = datetime.now(UTC)
    for e in events:
        state = states.get(e.patient.key) or PatientState.empty(e.patient.key)
        outcome = evaluate(rules, state, e, now=now)
        states[e.patient.key] = outcome.state
        found.update(a.alert_id for a in outcome.alerts)
    return found


def stream_of_results(count: int, patients: int, seed: int) -> list[ClinicalEvent]:
    """Potassium, sodium and glucose results of ``patients`` patients over a few days,
    many of them critical."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        key = f"KILL|A{rng.randrange(patients):04d}"
        minute = n * 7
        when = f"2026-04-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}Z"
        code, value, units = rng.choice(
            [
                ("2823-3", f"{rng.uniform(2.5, 7.0):.1f}", "mmol/L"),
                ("2951-2", str(rng.randrange(110, 170)), "mmol/L"),
                ("2345-7", str(rng.randrange(30, 500)), "mg/dL"),
            ]
        )
        observation = Observation(
            code=code, code_system="LN", value=value, value_type="NM", units=units
        )
        events.append(
            event(
                EventType.OBSERVATIONS_REPORTED,
                key,
                when,
                payload=Payload(observations=(observation,)),
            )
        )
    return events


def test_an_alerts_service_killed_at_random_points_raises_each_alert_exactly_once(
    bus_topics: BusTopics, start_alerts
) -> None:
    rng = random.Random(11)
    events = stream_of_results(2000, 60, seed=11)
    expected = expected_alert_ids(events)
    assert len(expected) > 100, "the stream raises alerts"
    assert set(expected.values()) == {1}
    feed = Feed(bus_topics)

    def produce() -> None:
        for start in range(0, len(events), 50):
            feed.events(events[start : start + 50])
            time.sleep(0.05)

    small = {"HL7BUS_ALERTS_BATCH_SIZE": "20"}  # many transactions: kills land inside them
    service = start_alerts(**small)
    producing = threading.Thread(target=produce)
    producing.start()
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 2.5))
        service.stop(signal.SIGKILL)
        service = start_alerts(ready=False, **small)
    producing.join(120)
    alerts = raised(bus_topics, at_least=sum(expected.values()), quiet_s=3.0)
    service.stop()
    got = Counter(a["alert_id"] for a in alerts)
    assert not [i for i, n in got.items() if n > 1], "no alert twice"
    assert set(got) == set(expected), "none missing, none extra"


def test_a_readmission_and_a_watched_ward_over_mllp_raise_readmission_and_adt_notify(
    bus_topics: BusTopics, start_mllp, start_alerts, tmp_path: Path
) -> None:
    from importlib.resources import files

    shipped = files("hl7bus.services.alerts").joinpath("default_rules.toml").read_text()
    rules = tmp_path / "rules.toml"
    rules.write_text(shipped + '\n[rule.lists.east-five]\npoints_of_care = ["5E"]\n')
    connector = start_mllp()
    start_alerts("--rules", str(rules))
    discharge, admission = messages_of("adt-a03-a01-readmission.hl7")
    assert exchange(connector.port, discharge).code == "AA"
    assert exchange(connector.port, admission).code == "AA"
    alerts = {a["rule"]: a for a in raised(bus_topics, at_least=2)}
    assert set(alerts) == {"readmission-30d", "adt-notify"}, alerts
    readmission = alerts["readmission-30d"]
    assert readmission["patient_key"] == "NORTHWARD|NW630019"
    # Discharged 10 Nov 14:30, admitted again 22 Nov 06:15: 11 days and a bit later.
    assert "11" in readmission["title"] + readmission["detail"]
    assert len(readmission["event_ids"]) == 2, "the discharge and the admission"
    notify = alerts["adt-notify"]
    assert notify["severity"] == "INFO"
    assert "east-five" in notify["title"] and notify["attributes"]["list"] == "east-five"
