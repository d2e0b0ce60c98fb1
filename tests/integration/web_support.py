"""What the web API's integration tests share: a timeline store filled from the project's
own messages, ``hl7bus service web`` run as a real process over it, and a plain HTTP client
that sends paths exactly as written (raw ``|``, ``%2F``) and reads server-sent events."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hl7bus.errors import MessageError
from hl7bus.events.alerts import ClinicalAlert
from hl7bus.events.model import (
    ClinicalEvent,
    EventType,
    Identifier,
    Observation,
    Patient,
    Payload,
    PersonName,
    Source,
)
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate
from hl7bus.services.timeline.entries import Entry, alert_entry, event_entry
from hl7bus.services.web import tokens
from hl7bus.services.web.tokens import Role

from conftest import BusTopics, free_port, prefixed_bus
from paths import own_files

SECRET = SecretStr(secrets.token_urlsafe(40))
SLASH_KEY = "CITY/GENERAL|A/77"  # a key with "/" in its authority and its id
SLASH_FAMILY = "SLASHMAN"
SAMPLE = "NORTHWIND|NW100234"
MERGED_AWAY, SURVIVOR = "RBGH|RB007001", "RBGH|RB004417"


def token(role: Role = Role.CLINICIAN, name: str = "dr.test") -> str:
    return tokens.create(SECRET, name=name, role=role)


def own_entries() -> list[Entry]:
    """Every event of the project's own messages and sample feed, a hand-made patient whose
    key holds "/", and an alert."""
    events: list[ClinicalEvent] = []
    for path in own_files():
        for chunk in split_messages(path.read_bytes()):
            try:
                events.extend(translate(chunk, ProfileSet()).events)
            except MessageError:
                continue
    entries = [event_entry(e) for e in events]
    entries += [event_entry(slash_event(i)) for i in range(3)]
    entries.append(
        alert_entry(
            ClinicalAlert(
                alert_id="potassium-high-1",
                rule="critical-potassium",
                patient_key=SAMPLE,
                title="Potassium 6.9 mmol/L",
                raised_at="2026-11-28T12:00:00-06:00",
                occurred_at="2026-11-28T11:30:00-06:00",
            )
        )
    )
    return entries


def slash_event(index: int, *, day: int = 1) -> ClinicalEvent:
    """An observation of the patient whose key holds "/"."""
    return ClinicalEvent(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"hl7bus-web-test/{day}/{index}")),
        event_type=EventType.OBSERVATIONS_REPORTED,
        occurred_at=f"2026-12-{day:02d}T10:{index:02d}:00+01:00",
        recorded_at=f"2026-12-{day:02d}T10:{index:02d}:30+01:00",
        patient=Patient(
            key=SLASH_KEY,
            identifiers=(Identifier("A/77", "CITY/GENERAL", "MR"),),
            name=PersonName(SLASH_FAMILY, ("ANNA",)),
            birth_date="1990-02-03",
            sex="F",
        ),
        source=Source(message_control_id=f"T{day}-{index}", message_type="ORU"),
        payload=Payload(
            observations=(
                Observation(
                    code="2823-3",
                    code_system="LN",
                    display="Potassium",
                    value=f"4.{index}",
                    units="mmol/L",
                    observed_at=f"2026-12-{day:02d}T10:{index:02d}:00+01:00",
                ),
            )
        ),
    )


# -- HTTP -------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(
    port: int,
    path: str,
    bearer: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15,
) -> Answer:
    """GET ``path`` exactly as written."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = dict(headers or {})
        if bearer is not None:
            sent["Authorization"] = f"Bearer {bearer}"
        conn.request("GET", path, headers=sent)
        response = conn.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


def post(port: int, path: str, bearer: str | None = None, timeout: float = 15) -> Answer:
    """POST ``path`` exactly as written, without a body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = {"Content-Length": "0"}
        if bearer is not None:
            sent["Authorization"] = f"Bearer {bearer}"
        conn.request("POST", path, headers=sent)
        response = conn.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


@dataclass
class Sse:
    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)


class EventStream:
    """An open ``/api/v1/stream``: its events one by one."""

    def __init__(self, port: int, path: str, bearer: str, last_event_id: str | None = None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {bearer}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()
        self.comments: list[str] = []

    def events(self) -> Iterator[Sse]:
        current = Sse()
        while True:
            line = self.response.readline().decode()
            if not line:
                return
            line = line.rstrip("\n")
            if not line:
                if current.id or current.event or current.data:
                    yield current
                current = Sse()
            elif line.startswith(":"):
                self.comments.append(line)
                yield Sse(event=":comment", data=[line])
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id":
                    current.id = value
                elif name == "event":
                    current.event = value
                elif name == "data":
                    current.data.append(value)

    def take(self, count: int) -> list[Sse]:
        found: list[Sse] = []
        for sse in self.events():
            if sse.event == "entry":
                found.append(sse)
                if len(found) == count:
                    break
        return found

    def close(self) -> None:
        self.conn.close()


# -- the service ------------------------------------------------------------------------------


@dataclass
class WebService:
    process: subprocess.Popen
    port: int
    log: Path
    store_url: str

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_web(env: dict[str, str], port: int, store_url: str, log: Path) -> WebService:
    """``hl7bus service web`` on ``port`` over ``store_url``; returns once /healthz says ok."""
    full = {
        **os.environ,
        **env,
        "HL7BUS_WEB_TOKEN_SECRET": SECRET.get_secret_value(),
        "HL7BUS_WEB_PORT": str(port),
        "HL7BUS_WEB_STORE": store_url,
        "HL7BUS_WEB_STREAM_HEARTBEAT_S": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hl7bus.cli", "service", "web"],
        env=full,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    service = WebService(process, port, log, store_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"web exited with {process.returncode}:\n{service.log_text()}")
        try:
            if get(port, "/healthz", timeout=2).status == 200:
                return service
        except OSError:
            pass
        time.sleep(0.2)
    service.stop()
    raise AssertionError(f"web did not answer /healthz within 60 s:\n{service.log_text()}")


@contextlib.contextmanager
def serving(app: Any, port: int) -> Iterator[None]:
    """``app`` under uvicorn in a thread of this process, on ``port``, for the block."""
    import threading

    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


# -- fixtures (imported by the test modules) ----------------------------------------------------


@pytest.fixture(scope="module", name="web_bus")
def web_bus_fixture(bus) -> Iterator[BusTopics]:
    """The bus's topics under a prefix of this module's own (deleted after it)."""
    with prefixed_bus(bus, partitions=1) as topics:
        yield topics


@contextlib.contextmanager
def filled_store(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[str]:
    """The URL of a new store of ``backend`` holding :func:`own_entries`."""
    from hl7bus.services.timeline.store import open_store

    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'timeline.db'}"
    else:
        server = request.getfixturevalue("postgres_url")
        schema = f"web_{uuid.uuid4().hex[:10]}"
        url = f"{server}?schema={schema}"
    with open_store(url) as store:
        store.apply_batch(own_entries(), {})
    try:
        yield url
    finally:
        if schema is not None:
            from postgres import drop_schema

            drop_schema(server, schema)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"], name="web")
def web_fixture(request, web_bus, tmp_path_factory) -> Iterator[WebService]:
    """``hl7bus service web`` over a filled store (SQLite, then PostgreSQL) and the test
    bus (its audit topic)."""
    folder = tmp_path_factory.mktemp(f"web-{request.param}")
    with filled_store(request, request.param, folder) as url:
        service = start_web(web_bus.env(), free_port(), url, folder / "web.log")
        try:
            yield service
        finally:
            service.stop()
