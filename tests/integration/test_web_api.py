"""The web front door as a user meets it: ``hl7bus service web`` (uvicorn, the real app)
over a real timeline store — SQLite, then PostgreSQL — filled from the project's own
messages, with its access audit on the real Kafka.

Tokens and roles (401, 403), patients found by identifier and name, summaries (a
merged-away key answers with its survivor), timelines paged by cursor and filtered,
FHIR bundles, keys with ``|`` and ``/`` raw or encoded, refusals in the API's shape,
server-sent events that resume with ``Last-Event-ID``, and one ``AccessAudit`` record per
request for patient data on ``audit.access``.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from hl7bus.services.timeline.entries import event_entry
from hl7bus.services.timeline.store import open_store
from hl7bus.services.web import tokens
from hl7bus.services.web.tokens import Role

from conftest import read_topic
from web_support import (
    MERGED_AWAY,
    SAMPLE,
    SECRET,
    SLASH_FAMILY,
    SLASH_KEY,
    SURVIVOR,
    EventStream,
    get,
    slash_event,
    token,
    web_bus_fixture,  # noqa: F401 - the fixture web_bus
    web_fixture,  # noqa: F401 - the fixture web
)

pytestmark = pytest.mark.integration

CLINICIAN = token(Role.CLINICIAN, "dr.nguyen")
OPERATOR = token(Role.OPERATOR, "ops.kim")
SERVICE = token(Role.SERVICE, "etl")
SLASH_RAW = SLASH_KEY
SLASH_ENCODED = urllib.parse.quote(SLASH_KEY, safe="")  # CITY%2FGENERAL%7CA%2F77
PATIENT_PATHS = (
    f"/api/v1/patients/{SAMPLE}",
    f"/api/v1/patients/{SAMPLE}/timeline",
    f"/api/v1/patients/{SAMPLE}/fhir",
    f"/api/v1/patients?identifier={SAMPLE.split('|')[1]}",
)


def _refusal(answer, status: int, code: str) -> dict:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code, body
    assert body["message"].endswith("."), body
    assert "Traceback" not in body["message"]
    return body


# -- health, tokens, roles ------------------------------------------------------------------


def test_healthz_needs_no_token_and_names_its_parts(web):
    answer = get(web.port, "/healthz")
    assert answer.status == 200
    assert answer.json() == {
        "ok": True,
        "kafka": "reachable",
        "store": "reachable",
        "audit": "ok",
        "audit_backlog": answer.json()["audit_backlog"],
    }


@pytest.mark.parametrize("path", [*PATIENT_PATHS, "/api/v1/stream", "/metrics"])
def test_every_request_but_healthz_needs_a_token(web, path):
    body = _refusal(get(web.port, path), 401, "unauthenticated")
    assert "Bearer" in body["message"]
    answer = get(web.port, path)
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-token",
        tokens.create(
            SECRET,
            name="late",
            role=Role.ADMIN,
            lifetime=timedelta(minutes=1),
            now=datetime.now(UTC) - timedelta(hours=1),
        ),
        tokens.create(
            tokens.SecretStr("another-secret-of-at-least-32-characters"),
            name="x",
            role=Role.ADMIN,
        ),
    ],
    ids=["garbage", "expired", "other-secret"],
)
def test_a_token_that_is_not_valid_is_401(web, bad):
    answer = get(web.port, f"/api/v1/patients/{SAMPLE}", bad)
    _refusal(answer, 401, "unauthenticated")
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_token_in_another_scheme_is_401(web):
    answer = get(web.port, f"/api/v1/patients/{SAMPLE}", headers={"Authorization": "Basic eDp5"})
    _refusal(answer, 401, "unauthenticated")


@pytest.mark.parametrize("path", [*PATIENT_PATHS, "/api/v1/stream"])
def test_an_operator_may_not_read_patient_data(web, path):
    body = _refusal(get(web.port, path, OPERATOR), 403, "forbidden")
    assert "operator" in body["message"]


def test_an_operator_may_read_the_metrics(web):
    answer = get(web.port, "/metrics", OPERATOR)
    assert answer.status == 200
    assert b"hl7bus_web_requests_total" in answer.body


# -- patients -------------------------------------------------------------------------------


def test_search_by_identifier_of_any_authority(web):
    answer = get(web.port, "/api/v1/patients?identifier=NW100234", CLINICIAN)
    assert answer.status == 200
    patients = answer.json()["patients"]
    assert [p["patient_key"] for p in patients] == [SAMPLE]
    found = patients[0]
    assert found["name"]["family"] == "RIVERA"
    assert found["birth_date"] == "1978-04-12" and found["sex"] == "F"
    assert {"value": "NW100234", "authority": "NORTHWIND", "type": "MR"} in found["identifiers"]
    # the state's identifier of another authority finds the same patient
    other = get(web.port, "/api/v1/patients?identifier=998877&authority=STATE", CLINICIAN)
    assert [p["patient_key"] for p in other.json()["patients"]] == [SAMPLE]
    wrong = get(web.port, "/api/v1/patients?identifier=998877&authority=NORTHWIND", CLINICIAN)
    assert wrong.json() == {"patients": []}


def test_search_by_name(web):
    answer = get(web.port, "/api/v1/patients?name=rivera,jane", CLINICIAN)
    assert [p["patient_key"] for p in answer.json()["patients"]] == [SAMPLE]
    answer = get(web.port, f"/api/v1/patients?name={SLASH_FAMILY}", CLINICIAN)
    assert [p["patient_key"] for p in answer.json()["patients"]] == [SLASH_KEY]


def test_summary_of_a_patient(web):
    answer = get(web.port, f"/api/v1/patients/{SAMPLE}", SERVICE)
    assert answer.status == 200
    summary = answer.json()
    assert summary["patient_key"] == summary["requested_key"] == SAMPLE
    assert summary["merged_into"] is None
    assert summary["name"]["family"] == "RIVERA"
    assert [a["display"] for a in summary["allergies"]] == ["Penicillin"]
    assert summary["stay"]["encounter"]["class"] == "outpatient", "the events' field name"
    assert "718-7" in summary["results"]
    assert list(summary["alerts"]) == ["potassium-high-1"]


def test_a_merged_away_key_answers_with_its_survivor(web):
    answer = get(web.port, f"/api/v1/patients/{MERGED_AWAY}", CLINICIAN)
    assert answer.status == 200
    summary = answer.json()
    assert summary["patient_key"] == SURVIVOR
    assert summary["requested_key"] == MERGED_AWAY
    assert summary["merged_into"] == SURVIVOR
    timeline = get(web.port, f"/api/v1/patients/{MERGED_AWAY}/timeline", CLINICIAN).json()
    assert timeline["patient_key"] == SURVIVOR and timeline["merged_into"] == SURVIVOR
    assert (
        timeline["entries"]
        == (get(web.port, f"/api/v1/patients/{SURVIVOR}/timeline", CLINICIAN).json()["entries"])
    )


@pytest.mark.parametrize(
    "key",
    [SLASH_RAW, SLASH_ENCODED, SLASH_KEY.replace("|", "%7C")],
    ids=["raw", "encoded", "pipe-encoded"],
)
def test_keys_with_pipe_and_slash_raw_or_encoded(web, key):
    summary = get(web.port, f"/api/v1/patients/{key}", CLINICIAN)
    assert summary.status == 200, summary.body
    assert summary.json()["patient_key"] == SLASH_KEY
    timeline = get(web.port, f"/api/v1/patients/{key}/timeline", CLINICIAN)
    assert timeline.status == 200
    assert timeline.json()["patient_key"] == SLASH_KEY
    assert len(timeline.json()["entries"]) >= 3
    fhir = get(web.port, f"/api/v1/patients/{key}/fhir", CLINICIAN)
    assert fhir.status == 200
    assert fhir.json()["resourceType"] == "Bundle"


def test_timeline_pages_by_cursor_in_clinical_order(web):
    whole = get(web.port, f"/api/v1/patients/{SURVIVOR}/timeline?limit=1000", CLINICIAN).json()
    assert whole["next_cursor"] is None
    assert len(whole["entries"]) >= 4
    pages, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = get(web.port, f"/api/v1/patients/{SURVIVOR}/timeline?{query}", CLINICIAN).json()
        assert len(page["entries"]) <= 2
        pages += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["event_id"] for e in pages] == [e["event_id"] for e in whole["entries"]]
    entry = whole["entries"][0]
    assert set(entry) >= {"event_id", "event_type", "occurred_at", "recorded_at", "summary"}
    assert entry["event"]["event_id"] == entry["event_id"], "the whole event record"


def test_a_client_that_accepts_gzip_gets_the_same_timeline_compressed(web):
    import gzip

    path = f"/api/v1/patients/{SURVIVOR}/timeline?limit=1000"
    plain = get(web.port, path, CLINICIAN)
    packed = get(web.port, path, CLINICIAN, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert len(plain.body) > 4096, "a page long enough to be compressed"
    assert packed.headers["content-encoding"] == "gzip"
    assert len(packed.body) < len(plain.body) / 3
    assert json.loads(gzip.decompress(packed.body)) == plain.json()
    small = get(web.port, "/api/v1/me", CLINICIAN, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers, "a short answer goes as it is"


def test_timeline_filters(web):
    base = f"/api/v1/patients/{SAMPLE}/timeline"
    alerts = get(web.port, f"{base}?type=ALERT_RAISED", CLINICIAN).json()["entries"]
    assert [e["event_type"] for e in alerts] == ["ALERT_RAISED"]
    both = get(web.port, f"{base}?type=ALERT_RAISED,OBSERVATIONS_REPORTED", CLINICIAN).json()
    assert {e["event_type"] for e in both["entries"]} == {"ALERT_RAISED", "OBSERVATIONS_REPORTED"}
    coded = get(web.port, f"{base}?code=718-7", CLINICIAN).json()["entries"]
    assert coded and all(
        any(o["code"] == "718-7" for o in e["event"]["payload"]["observations"]) for e in coded
    )
    slash = f"/api/v1/patients/{SLASH_ENCODED}/timeline"
    window = get(
        web.port,
        f"{slash}?since=2026-12-01T10:01%2B01:00&until=2026-12-01T10:01:59%2B01:00",
        CLINICIAN,
    ).json()["entries"]
    assert [e["occurred_at"] for e in window] == ["2026-12-01T10:01:00+01:00"]


def test_fhir_bundle(web):
    answer = get(web.port, f"/api/v1/patients/{SAMPLE}/fhir", CLINICIAN)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/fhir+json")
    bundle = answer.json()
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Observation", "Flag"} <= kinds


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/patients/NOBODY|0", 404, "not_found"),
        ("/api/v1/patients/NOBODY|0/timeline", 404, "not_found"),
        ("/api/v1/patients/NOBODY|0/fhir", 404, "not_found"),
        (f"/api/v1/patients/{SAMPLE}/timeline?since=yesterday", 400, "bad_time"),
        (f"/api/v1/patients/{SAMPLE}/timeline?until=2026-13-01", 400, "bad_time"),
        (f"/api/v1/patients/{SAMPLE}/timeline?cursor=not-a-cursor", 400, "bad_cursor"),
        (f"/api/v1/patients/{SAMPLE}/timeline?limit=0", 400, "bad_parameter"),
        (f"/api/v1/patients/{SAMPLE}/timeline?limit=lots", 400, "bad_parameter"),
        (f"/api/v1/patients/{SAMPLE}/timeline?type=SNEEZED", 400, "bad_parameter"),
        ("/api/v1/patients", 400, "bad_parameter"),
        ("/api/v1/patients?authority=NORTHWIND", 400, "bad_parameter"),
        ("/api/v1/patients?name=,JANE", 400, "bad_parameter"),
        ("/api/v1/nothing-here", 404, "not_found"),
    ],
)
def test_a_bad_request_is_a_refusal_in_the_api_shape(web, path, status, code):
    _refusal(get(web.port, path, CLINICIAN), status, code)


def test_a_cursor_with_numbers_beyond_the_database_is_no_500(web):
    """A cursor of the right shape whose numbers no BIGINT holds: SQLite cannot compare
    them (400 bad_cursor), PostgreSQL can (an empty page after it)."""
    cursor = "WzEsMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCwxLCJ4Il0"  # [1, 10**28, 1, "x"]
    answer = get(web.port, f"/api/v1/patients/{SAMPLE}/timeline?cursor={cursor}", CLINICIAN)
    if answer.status == 400:
        _refusal(answer, 400, "bad_cursor")
    else:
        assert answer.status == 200
        assert answer.json()["entries"] == [] and answer.json()["next_cursor"] is None


def test_a_bad_last_event_id_is_400(web):
    answer = get(web.port, "/api/v1/stream", CLINICIAN, {"Last-Event-ID": "yesterday"})
    _refusal(answer, 400, "bad_parameter")
    answer = get(web.port, "/api/v1/stream", CLINICIAN, {"Last-Event-ID": "9" * 25})
    _refusal(answer, 400, "bad_parameter")


# -- the stream -----------------------------------------------------------------------------


def _latest(web) -> int:
    with open_store(web.store_url) as store:
        return store.latest_sequence()


def _store(web, *events) -> None:
    with open_store(web.store_url) as store:
        store.apply_batch([event_entry(e) for e in events], {})


def test_stream_resumes_after_last_event_id_and_sends_what_comes(web):
    latest = _latest(web)
    stream = EventStream(web.port, "/api/v1/stream", CLINICIAN, last_event_id=str(latest - 3))
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("content-type").startswith("text/event-stream")
        first = stream.take(3)
        assert [int(e.id) for e in first] == [latest - 2, latest - 1, latest]
        data = json.loads(first[0].data[0])
        assert data["sequence"] == latest - 2
        assert {"event_id", "event_type", "summary", "event"} <= set(data)
        # new entries arrive as they are stored
        day = 10 + (latest % 17)
        _store(web, slash_event(0, day=day), slash_event(1, day=day))
        arrived = stream.take(2)
        assert [int(e.id) for e in arrived] == [latest + 1, latest + 2]
        assert {json.loads(e.data[0])["patient_key"] for e in arrived} == {SLASH_KEY}
    finally:
        stream.close()
    # a client that reconnects with the last id it saw misses nothing and gets nothing twice
    _store(web, slash_event(2, day=day))
    again = EventStream(web.port, "/api/v1/stream", CLINICIAN, last_event_id=arrived[-1].id)
    try:
        assert [int(e.id) for e in again.take(1)] == [latest + 3]
    finally:
        again.close()


def test_stream_of_one_patient_and_heartbeats(web):
    key = urllib.parse.quote(SAMPLE, safe="")
    stream = EventStream(web.port, f"/api/v1/stream?patient_key={key}", CLINICIAN, "0")
    try:
        entries = stream.take(3)
        assert {json.loads(e.data[0])["patient_key"] for e in entries} == {SAMPLE}
        ids = [int(e.id) for e in entries]
        assert ids == sorted(ids)
        started = time.monotonic()
        for sse in stream.events():  # idle: a comment each second (HL7BUS_WEB_STREAM_HEARTBEAT_S)
            assert sse.event != "entry" or json.loads(sse.data[0])["patient_key"] == SAMPLE
            if sse.event == ":comment":
                break
        assert any("heartbeat" in c for c in stream.comments)
        assert time.monotonic() - started < 5
    finally:
        stream.close()


def test_a_new_client_gets_only_what_is_stored_from_now_on(web):
    stream = EventStream(web.port, "/api/v1/stream", CLINICIAN)
    try:
        time.sleep(0.5)
        latest = _latest(web)
        _store(web, slash_event(5, day=28 + (latest % 2)))
        (entry,) = stream.take(1)
        assert int(entry.id) == latest + 1
    finally:
        stream.close()


# -- the access audit -----------------------------------------------------------------------


def test_each_request_for_patient_data_is_on_audit_access(web, web_bus):
    marker = f"auditor-{time.monotonic_ns()}"
    who = token(Role.CLINICIAN, marker)
    nosy = token(Role.OPERATOR, marker + "-ops")
    get(web.port, f"/api/v1/patients/{MERGED_AWAY}", who, {"User-Agent": "audit-test/1"})
    get(web.port, f"/api/v1/patients/{SAMPLE}/timeline?limit=2&type=ALERT_RAISED", who)
    get(web.port, "/api/v1/patients?identifier=NW100234", who)
    get(web.port, "/api/v1/patients/NOBODY|0/fhir", who)
    get(web.port, f"/api/v1/patients/{SAMPLE}", nosy)
    get(web.port, "/healthz")
    records = [
        r
        for r in read_topic(web_bus, web_bus.topics.audit, at_least=5, timeout=30)
        if r.value["user"].startswith(marker)
    ]
    by_endpoint = {r.value["endpoint"]: r for r in records if r.value["role"] == "clinician"}
    assert len(records) == 5, [r.value for r in records]
    assert all(r.key.decode() == r.value["user"] for r in records), "keyed by user"

    summary = by_endpoint["/api/v1/patients/{patient_key}"].value
    assert summary["role"] == "clinician" and summary["status"] == 200
    assert summary["patient_keys"] == [MERGED_AWAY, SURVIVOR]
    assert summary["path"] == f"/api/v1/patients/{MERGED_AWAY}"
    assert summary["client_address"].startswith("127.0.0.1:")
    assert summary["user_agent"] == "audit-test/1"
    assert summary["error"] is None
    assert datetime.fromisoformat(summary["accessed_at"]).tzinfo is not None

    timeline = by_endpoint["/api/v1/patients/{patient_key}/timeline"].value
    assert timeline["query"] == {"limit": "2", "type": "ALERT_RAISED"}
    assert timeline["entries"] == 1 and timeline["patient_keys"] == [SAMPLE]

    search = by_endpoint["/api/v1/patients"].value
    assert search["patient_keys"] == [SAMPLE] and search["entries"] == 1

    missing = by_endpoint["/api/v1/patients/{patient_key}/fhir"].value
    assert (missing["status"], missing["error"]) == (404, "not_found")
    assert missing["patient_keys"] == ["NOBODY|0"]

    refused = [r.value for r in records if r.value["role"] == "operator"]
    assert [(r["status"], r["error"]) for r in refused] == [(403, "forbidden")]


def test_metrics_count_requests_by_route_not_by_patient(web):
    get(web.port, f"/api/v1/patients/{SAMPLE}", CLINICIAN)
    text = get(web.port, "/metrics", SERVICE).body.decode()
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("hl7bus_web_requests_total")
        and 'route="/api/v1/patients/{patient_key}"' in line
        and 'status="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 1
    assert SAMPLE not in text and "NW100234" not in text, "no patient in the metrics"
    assert "hl7bus_web_request_seconds_bucket" in text


def test_logs_carry_no_patient_data(web):
    get(web.port, f"/api/v1/patients/{SAMPLE}", CLINICIAN)
    get(web.port, "/api/v1/patients/NOBODY|0", CLINICIAN)
    log = web.log_text()
    for secret in ("NW100234", "RIVERA", "NOBODY", "A/77"):
        assert secret not in log
