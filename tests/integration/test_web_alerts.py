"""The alerts API as a clinician meets it, end to end through the real broker, registry and
timeline store (SQLite, then PostgreSQL): an alert raised on ``clinical.alerts`` is stored
by the timeline service (``hl7bus service timeline``, a process) and listed by the web
front door (``hl7bus service web``, a process); acknowledging and resolving it puts a new
``ClinicalAlert`` record on the topic (read back here with Confluent's own deserializer)
that comes back through the timeline into the list.

Also: who may list and who may change (401, 403), an unknown alert (404), changes the
lifecycle forbids (409), bad parameters (400), the access audit of every read, and Kafka
that does not answer (503, never a 500).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cleanup import RUN_PREFIX
from service_support import Feed

from hl7bus.events.alerts import AlertSeverity, ClinicalAlert, alert_to_record
from hl7bus.services.timeline.entries import alert_entry
from hl7bus.services.web.tokens import Role

from conftest import BusTopics, free_port, read_topic
from mllp_support import wait_for
from postgres import drop_schema
from timeline_events import merge, store_url
from web_support import (
    Answer,
    WebService,
    get,
    post,
    serving,
    start_web,
    token,
    web_bus_fixture,  # noqa: F401 - the fixture web_bus
)

pytestmark = pytest.mark.integration

CLINICIAN = token(Role.CLINICIAN, "dr.nguyen")
OTHER_CLINICIAN = token(Role.CLINICIAN, "rn.okafor")
ADMIN = token(Role.ADMIN, "root.admin")
SERVICE = token(Role.SERVICE, "etl")
OPERATOR = token(Role.OPERATOR, "ops.kim")


def refusal(answer: Answer, status: int, code: str) -> dict:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code, body
    assert body["message"].endswith("."), body
    return body


# -- the bench: the bus, the timeline service, the web front door ---------------------------------


@dataclass
class Bench:
    bus: BusTopics
    feed: Feed
    web: WebService
    timeline: subprocess.Popen
    timeline_log: Path

    @property
    def port(self) -> int:
        return self.web.port


def start_timeline(bus: BusTopics, url: str, log: Path) -> subprocess.Popen:
    """``hl7bus service timeline --store URL`` in a consumer group of its own; returned once
    it has its partitions."""
    env = {
        **os.environ,
        **bus.env(),
        "HL7BUS_TIMELINE_GROUP": f"{RUN_PREFIX}timeline.{uuid.uuid4().hex[:8]}",
        "HL7BUS_TIMELINE_METRICS_PORT": str(free_port()),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hl7bus.cli", "service", "timeline", "--store", url],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        assert process.poll() is None, log.read_text(errors="replace")
        return "partitions assigned" in log.read_text(errors="replace")

    wait_for(ready, 60, "the timeline service to take its partitions")
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bench(request, web_bus: BusTopics, tmp_path_factory) -> Iterator[Bench]:
    folder = tmp_path_factory.mktemp(f"alerts-{request.param}")
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    url, schema = store_url(request.param, folder, postgres)
    timeline = start_timeline(web_bus, url, folder / "timeline.log")
    try:
        web = start_web(web_bus.env(), free_port(), url, folder / "web.log")
        try:
            yield Bench(web_bus, Feed(web_bus), web, timeline, folder / "timeline.log")
        finally:
            web.stop()
    finally:
        stop(timeline)
        if schema is not None:
            drop_schema(postgres, schema)


# -- helpers --------------------------------------------------------------------------------------


def patient() -> str:
    """A patient key of this test alone."""
    return f"ALERTS|P{uuid.uuid4().hex[:10]}"


def raised(key: str, rule: str = "critical-value", minutes: int = 0) -> ClinicalAlert:
    at = datetime(2026, 11, 28, 10, 15, tzinfo=UTC) + timedelta(minutes=minutes)
    return ClinicalAlert(
        alert_id=f"{rule}:{uuid.uuid4().hex}",
        rule=rule,
        severity=AlertSeverity.CRITICAL,
        patient_key=key,
        title="Potassium 6.8 mmol/L",
        detail="2823-3 above 6.1 mmol/L",
        raised_at=at.isoformat(),
        occurred_at=(at - timedelta(minutes=30)).isoformat(),
        event_ids=(str(uuid.uuid4()),),
        attributes={"code": "2823-3", "value": "6.8", "units": "mmol/L"},
    )


def listing(port: int, bearer: str = CLINICIAN, **query: str) -> Answer:
    return get(port, f"/api/v1/alerts?{urllib.parse.urlencode(query)}", bearer)


def listed(
    port: int, until: Callable[[list[dict]], bool], timeout: float = 30, **query: str
) -> list[dict]:
    """The alerts the list answers once ``until`` holds for them (the timeline service
    stores what arrives on the topics within a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = listing(port, **query)
        assert answer.status == 200, answer.body
        alerts = answer.json()["alerts"]
        if until(alerts):
            return alerts
        if time.monotonic() > deadline:
            raise AssertionError(f"the list never came to the state awaited: {alerts}")
        time.sleep(0.2)


def change(port: int, alert_id: str, verb: str, bearer: str = CLINICIAN) -> Answer:
    return post(port, f"/api/v1/alerts/{urllib.parse.quote(alert_id, safe='')}/{verb}", bearer)


def stored(bench: Bench, key: str, count: int) -> ClinicalAlert:
    """Raise an alert for ``key`` and wait until the list shows ``count`` alerts of it."""
    alert = raised(key)
    bench.feed.alerts([alert])
    listed(bench.port, lambda a: len(a) == count, patient_key=key, status="all")
    return alert


# -- listing --------------------------------------------------------------------------------------


def test_a_raised_alert_is_listed_open_with_its_fields(bench: Bench) -> None:
    key = patient()
    alert = raised(key)
    bench.feed.alerts([alert])
    (shown,) = listed(bench.port, lambda a: len(a) == 1, patient_key=key)
    assert shown == {**alert_to_record(alert), "status": "RAISED"}
    assert shown["changed_by"] is None and shown["changed_at"] is None
    # open is the default; an open alert is not among the resolved ones
    assert listing(bench.port, patient_key=key, status="open").json()["alerts"] == [shown]
    assert listing(bench.port, patient_key=key, status="resolved").json() == {"alerts": []}


def test_newest_first_by_rule_and_cut_at_a_limit(bench: Bench) -> None:
    key = patient()
    first = raised(key, "critical-value", minutes=0)
    latest = raised(key, "news2", minutes=90)
    middle = raised(key, "critical-value", minutes=45)
    bench.feed.alerts([first, latest, middle])
    alerts = listed(bench.port, lambda a: len(a) == 3, patient_key=key, status="all")
    assert [a["alert_id"] for a in alerts] == [latest.alert_id, middle.alert_id, first.alert_id]
    one = listing(bench.port, patient_key=key, limit="1").json()["alerts"]
    assert [a["alert_id"] for a in one] == [latest.alert_id]
    rule = listing(bench.port, patient_key=key, rule="critical-value").json()["alerts"]
    assert [a["alert_id"] for a in rule] == [middle.alert_id, first.alert_id]


def test_a_merged_away_key_answers_for_its_survivor(bench: Bench) -> None:
    survivor, prior = patient(), patient()
    before = raised(prior)
    bench.feed.alerts([before])
    listed(bench.port, lambda a: len(a) == 1, patient_key=prior)
    bench.feed.events([merge(survivor, prior, "2026-11-28T12:00Z")])
    after = raised(survivor, minutes=200)
    bench.feed.alerts([after])
    expected = [after.alert_id, before.alert_id]
    for key in (survivor, prior):
        alerts = listed(bench.port, lambda a: len(a) == 2, patient_key=key)
        assert [a["alert_id"] for a in alerts] == expected
        assert [a["patient_key"] for a in alerts] == [survivor, prior], "as raised"


def test_the_list_of_every_patient(bench: Bench) -> None:
    alert = stored(bench, patient(), 1)
    everyone = listing(bench.port, status="all", limit="1000").json()["alerts"]
    assert alert.alert_id in [a["alert_id"] for a in everyone]
    assert len({a["alert_id"] for a in everyone}) == len(everyone), "each alert once"


# -- acknowledging and resolving ------------------------------------------------------------------


def test_acknowledge_then_resolve_through_kafka_and_the_timeline(bench: Bench) -> None:
    key = patient()
    alert = stored(bench, key, 1)
    before = datetime.now(UTC)

    answer = change(bench.port, alert.alert_id, "acknowledge", CLINICIAN)
    assert answer.status == 200, answer.body
    acknowledged = answer.json()
    assert acknowledged["status"] == "ACKNOWLEDGED"
    assert acknowledged["changed_by"] == "dr.nguyen", "the token's name"
    changed_at = datetime.fromisoformat(acknowledged["changed_at"])
    assert changed_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= changed_at <= datetime.now(UTC)
    assert acknowledged == {
        **alert_to_record(alert),
        "status": "ACKNOWLEDGED",
        "changed_by": "dr.nguyen",
        "changed_at": acknowledged["changed_at"],
    }

    # On the topic, keyed by the patient, readable by any Confluent client.
    on_topic = [
        r
        for r in read_topic(bench.bus, bench.bus.topics.alerts, at_least=2, quiet_s=0.5)
        if r.value["alert_id"] == alert.alert_id
    ]
    assert [r.value["status"] for r in on_topic] == ["RAISED", "ACKNOWLEDGED"]
    assert on_topic[1].key == key.encode()
    assert on_topic[1].value == acknowledged

    # Back through the timeline: acknowledged, still open.
    (shown,) = listed(
        bench.port, lambda a: [x["status"] for x in a] == ["ACKNOWLEDGED"], patient_key=key
    )
    assert shown == acknowledged
    assert listing(bench.port, patient_key=key, status="acknowledged").json()["alerts"] == [shown]
    refusal(change(bench.port, alert.alert_id, "acknowledge"), 409, "already_acknowledged")

    answer = change(bench.port, alert.alert_id, "resolve", OTHER_CLINICIAN)
    assert answer.status == 200, answer.body
    resolved = answer.json()
    assert (resolved["status"], resolved["changed_by"]) == ("RESOLVED", "rn.okafor")
    listed(bench.port, lambda a: a == [], patient_key=key)  # no longer open
    (shown,) = listing(bench.port, patient_key=key, status="resolved").json()["alerts"]
    assert shown == resolved

    body = refusal(change(bench.port, alert.alert_id, "resolve"), 409, "already_resolved")
    assert "rn.okafor" in body["message"]
    refusal(change(bench.port, alert.alert_id, "acknowledge"), 409, "already_resolved")
    statuses = [
        r.value["status"]
        for r in read_topic(bench.bus, bench.bus.topics.alerts, at_least=3, quiet_s=0.5)
        if r.value["alert_id"] == alert.alert_id
    ]
    assert statuses == ["RAISED", "ACKNOWLEDGED", "RESOLVED"], "refusals put nothing on Kafka"
    assert key not in bench.web.log_text(), "logs carry no patient data"


def test_a_raised_alert_can_be_resolved_at_once_by_an_admin(bench: Bench) -> None:
    alert = stored(bench, patient(), 1)
    answer = change(bench.port, alert.alert_id, "resolve", ADMIN)
    assert answer.status == 200, answer.body
    assert (answer.json()["status"], answer.json()["changed_by"]) == ("RESOLVED", "root.admin")


def test_an_unknown_alert_is_404(bench: Bench) -> None:
    for verb in ("acknowledge", "resolve"):
        body = refusal(change(bench.port, "no-such-alert", verb), 404, "not_found")
        assert "No alert has the id 'no-such-alert'" in body["message"]


# -- who may ------------------------------------------------------------------------------------


def test_no_token_is_401(bench: Bench) -> None:
    answer = get(bench.port, "/api/v1/alerts")
    refusal(answer, 401, "unauthenticated")
    assert answer.headers["www-authenticate"].startswith("Bearer")
    for verb in ("acknowledge", "resolve"):
        refusal(post(bench.port, f"/api/v1/alerts/x/{verb}"), 401, "unauthenticated")
        refusal(post(bench.port, f"/api/v1/alerts/x/{verb}", "garbage"), 401, "unauthenticated")


def test_who_may_list_and_who_may_change(bench: Bench) -> None:
    alert = stored(bench, patient(), 1)
    # the list is patient data: the roles that read it, as the patient routes
    assert listing(bench.port, SERVICE).status == 200
    body = refusal(listing(bench.port, OPERATOR), 403, "forbidden")
    assert "operator" in body["message"]
    # changes are made by people: clinicians (and admins)
    for role, bearer in (("service", SERVICE), ("operator", OPERATOR)):
        for verb in ("acknowledge", "resolve"):
            body = refusal(change(bench.port, alert.alert_id, verb, bearer), 403, "forbidden")
            assert role in body["message"] and "clinician" in body["message"]
    (still,) = listing(bench.port, patient_key=alert.patient_key).json()["alerts"]
    assert still["status"] == "RAISED"


@pytest.mark.parametrize(
    "query",
    [
        "status=closed",
        "status=",
        "limit=0",
        "limit=1001",
        "limit=lots",
        "patient_key=",
        "rule=" + "r" * 300,
    ],
)
def test_a_bad_parameter_is_400(bench: Bench, query: str) -> None:
    refusal(get(bench.port, f"/api/v1/alerts?{query}", CLINICIAN), 400, "bad_parameter")


# -- the access audit -----------------------------------------------------------------------------


def test_the_list_and_the_changes_are_on_the_access_audit(bench: Bench) -> None:
    key = patient()
    alert = stored(bench, key, 1)
    marker = f"alert-auditor-{time.monotonic_ns()}"
    who = token(Role.CLINICIAN, marker)
    assert listing(bench.port, who, patient_key=key).status == 200
    assert change(bench.port, alert.alert_id, "acknowledge", who).status == 200
    assert change(bench.port, "no-such-alert", "resolve", who).status == 404
    assert listing(bench.port, token(Role.OPERATOR, marker), patient_key=key).status == 403
    records = [
        r.value
        for r in read_topic(bench.bus, bench.bus.topics.audit, at_least=4, quiet_s=1)
        if r.value["user"] == marker
    ]
    by_endpoint = {(r["method"], r["endpoint"], r["role"]): r for r in records}
    assert len(records) == 4, records

    read = by_endpoint[("GET", "/api/v1/alerts", "clinician")]
    assert (read["status"], read["entries"], read["patient_keys"]) == (200, 1, [key])
    assert read["query"] == {"patient_key": key}

    acknowledged = by_endpoint[("POST", "/api/v1/alerts/{alert_id}/acknowledge", "clinician")]
    assert (acknowledged["status"], acknowledged["patient_keys"]) == (200, [key])

    missing = by_endpoint[("POST", "/api/v1/alerts/{alert_id}/resolve", "clinician")]
    assert (missing["status"], missing["error"]) == (404, "not_found")

    refused = by_endpoint[("GET", "/api/v1/alerts", "operator")]
    assert (refused["status"], refused["error"], refused["patient_keys"]) == (
        403,
        "forbidden",
        [key],
    )


# -- Kafka that does not answer -------------------------------------------------------------------


def test_a_change_kafka_does_not_acknowledge_is_503_within_seconds(tmp_path) -> None:
    """The app over a real store holding an alert, its alert changes going to a port where no
    broker answers: 503 with a sentence after the change timeout, never a 500; the list is
    still served from the store."""
    from hl7bus.services.timeline.store import open_store
    from hl7bus.services.web.alert_changes import AlertChanges
    from hl7bus.services.web.app import create_app
    from hl7bus.services.web.audit import AuditLog
    from hl7bus.settings import KafkaSettings, WebSettings

    from web_support import SECRET

    nowhere = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    key = patient()
    alert = raised(key)
    audit = AuditLog(nowhere, "audit.access", schema_id=1, timeout_s=60)
    changes = AlertChanges(nowhere, "clinical.alerts", schema_id=1, timeout_s=1.0)
    port = free_port()
    url = f"sqlite:///{tmp_path / 'timeline.db'}"
    with open_store(url) as store:
        store.apply_batch([alert_entry(alert)], {})
        app = create_app(WebSettings(), store, audit, token_secret=SECRET, alert_changes=changes)
        try:
            with serving(app, port):
                started = time.monotonic()
                answer = change(port, alert.alert_id, "acknowledge")
                took = time.monotonic() - started
                body = refusal(answer, 503, "kafka_unavailable")
                assert answer.headers["retry-after"]
                assert 1.0 <= took < 5, took
                assert "Kafka" in body["message"]
                (shown,) = listing(port, patient_key=key).json()["alerts"]
                assert shown["status"] == "RAISED"
        finally:
            changes.close(timeout_s=0.5)
            audit.close(timeout_s=0.5)


def test_a_front_door_without_alert_changes_says_so(tmp_path) -> None:
    from hl7bus.services.timeline.store import open_store
    from hl7bus.services.web.app import create_app
    from hl7bus.services.web.audit import AuditLog
    from hl7bus.settings import KafkaSettings, WebSettings

    from web_support import SECRET

    nowhere = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    alert = raised(patient())
    audit = AuditLog(nowhere, "audit.access", schema_id=1, timeout_s=60)
    port = free_port()
    with open_store(f"sqlite:///{tmp_path / 'timeline.db'}") as store:
        store.apply_batch([alert_entry(alert)], {})
        app = create_app(WebSettings(), store, audit, token_secret=SECRET)
        try:
            with serving(app, port):
                answer = change(port, alert.alert_id, "resolve")
                refusal(answer, 503, "alert_changes_unavailable")
        finally:
            audit.close(timeout_s=0.5)
