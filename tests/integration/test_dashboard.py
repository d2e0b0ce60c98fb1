"""The operators' dashboard at ``/`` of the web front door, in a real headless Chromium
(Debian's ``chromium``, driven by playwright).

End to end: the MLLP connector, the alerts service, the timeline service and the web front
door run as processes on the test's own topics; an HL7 result with a critical potassium
goes in over MLLP, and in the browser an operator enters the token once, sees the event
arrive in the live stream, finds the patient and the result on the patient's timeline,
sees the connector's figures and charts and the lab among the senders, and acknowledges the
critical-value alert (the list then shows it acknowledged, also after a reload, from the
store).  Then an admission over the connector's size limit is dead-lettered: the dead-letter
alarm's banner shows (and its Prometheus gauge), its sender stands out as rejected with the
error's code, the dead letter is read with its raw message and replayed from the page, its
events arrive in the live stream, and the alarm's clearing is said once.

The token travels only in ``Authorization`` headers — never in a URL — and nothing of it or
of the patients reaches the browser's console or the web front door's log.

Screenshots of the main views are written to ``HL7BUS_SCREENSHOTS`` when it names a folder
(``docs/screenshots`` for the README), else to the test's temporary folder.

Also, on the app run in this process over a store filled from the project's own messages:
each role sees what it may (an operator the figures, a sender silent for long among them,
not patient data; a clinician the patient data, not the figures), and without the charting
library the page says so and still shows the figures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from prometheus_client.parser import text_string_to_metric_families
from test_alerts_service import start_alerts  # noqa: F401 - the fixture
from test_web_alerts import start_timeline, stop

from hl7bus.hl7 import split_messages
from hl7bus.hl7.header import Header
from hl7bus.metrics import ConnectorMetrics, serve_http
from hl7bus.mllp.ack import AckCode
from hl7bus.services.web.tokens import Role

from conftest import BusTopics, free_port
from mllp_support import exchange
from web_support import SAMPLE, filled_store, get, serving, start_web, token

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
MESSAGES = Path(__file__).resolve().parents[1] / "messages"
PATIENT_KEY = "NORTHWARD|NW448120"
FAMILY = "Fernsby"
WAIT_MS = 30_000
LIMIT = 1000  # bytes: the MLLP connector's HL7BUS_MLLP_MAX_MESSAGE_BYTES in the end-to-end test
TOO_LARGE = "adt-a01-admit.hl7"  # 1057 bytes
ADMITTED_KEY, ADMITTED_FAMILY = "RBGH|RB004417", "Brannigan"
CONNECTOR = "mllp:north"  # the connector of the app run in this process
LAB, ADMITTING = "CHEMLAB^NORTHWARD", "ADMITWISE^RBGH"  # MSH-3^MSH-4 of the two messages
BED_BOARD = Header(sending_application="BEDBOARD", sending_facility="NORTHWIND")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    )
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HL7BUS_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Watched:
    """A page, with every console line and every URL it asked for."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900})
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.urls: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror {error}"))
        self.context.on("request", lambda request: self.urls.append(request.url))

    def sign_in(self, url: str, bearer: str) -> None:
        self.page.goto(url)
        self.page.get_by_label("Bearer token").fill(bearer)
        self.page.get_by_role("button", name="Sign in").click()

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def watched(browser: Browser) -> Iterator[Watched]:
    page = Watched(browser)
    try:
        yield page
    finally:
        page.close()


def message_of(name: str) -> bytes:
    (first, *_) = split_messages((MESSAGES / name).read_bytes())
    return first


def alarm_gauge(port: int, bearer: str, kind: str, series: str = "") -> float:
    """``hl7bus_web_alarm{kind}`` (or ``hl7bus_web_alarms_started_total{kind}``) of the web
    front door's ``/metrics``."""
    answer = get(port, "/metrics", bearer)
    assert answer.status == 200, answer.body
    name = "hl7bus_web_alarms_started_total" if series == "started" else "hl7bus_web_alarm"
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("kind") == kind:
                return sample.value
    raise AssertionError(f"no {name}{{kind={kind!r}}} in /metrics")


def send(port: int, message: bytes) -> str:
    """One message over MLLP, from a thread of its own (playwright's sync API holds an
    event loop in this one); its ACK code."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(exchange, port, message).result(60).code


def sender_row(page: Page, sender: str, connector: str):
    return page.locator(
        f'#senders-table tbody tr[data-sender="{sender}"][data-connector="{connector}"]'
    )


def alert_row(page: Page):
    return page.locator("#alerts-table tbody tr", has_text="critical-value").filter(
        has_text=PATIENT_KEY
    )


# -- end to end -----------------------------------------------------------------------------------


def test_an_operator_follows_a_critical_result_from_mllp_to_an_acknowledged_alert(
    bus_topics: BusTopics,
    start_mllp,
    start_alerts,  # noqa: F811 - the imported fixture
    browser: Browser,
    tmp_path: Path,
) -> None:
    shots = screenshots(tmp_path)
    # Below the size of one admission: that one is dead-lettered whole, a cause an operator
    # fixes by raising the limit and then replays from the page.
    connector = start_mllp(HL7BUS_MLLP_MAX_MESSAGE_BYTES=str(LIMIT))
    start_alerts()
    store = f"sqlite:///{tmp_path / 'timeline.db'}"
    timeline = start_timeline(bus_topics, store, tmp_path / "timeline.log")
    web = None
    try:
        web = start_web(
            {
                **bus_topics.env(),
                "HL7BUS_WEB_MLLP_METRICS_URL": (
                    f"http://127.0.0.1:{connector.metrics_port}/metrics"
                ),
                "HL7BUS_WEB_FIGURES_POLL_S": "0.5",
                "HL7BUS_WEB_LAG_POLL_S": "0.5",
                # one dead letter starts the alarm; six seconds later it clears
                "HL7BUS_WEB_DEAD_LETTER_ALARM": "0",
                "HL7BUS_WEB_DEAD_LETTER_WINDOW_S": "6",
            },
            free_port(),
            store,
            tmp_path / "web.log",
        )
        bearer = token(Role.ADMIN, "ops.admin")
        with watched(browser) as watching:
            page = watching.page
            page.goto(web.url("/"))
            expect(page.get_by_label("Bearer token")).to_be_visible()
            page.screenshot(path=str(shots / "sign-in.png"))
            watching.sign_in(web.url("/"), bearer)
            expect(page.locator("#whoami")).to_have_text("ops.admin (admin)")
            expect(page.locator("#stream-status")).to_have_text("live", timeout=WAIT_MS)

            assert send(connector.port, message_of("oru-r01-critical-potassium.hl7")) == "AA"

            # The live stream: the event, as the timeline service stored it (and the alert
            # raised for it, as its own line).
            entries = page.locator("#stream-entries li", has_text=PATIENT_KEY)
            entry = entries.filter(has_text="OBSERVATIONS_REPORTED")
            expect(entry).to_contain_text("Potassium 6.8 mmol/L", timeout=WAIT_MS)
            expect(entries.filter(has_text="ALERT_RAISED")).to_contain_text(
                "Critical potassium", timeout=WAIT_MS
            )

            # The connector's figures and charts: one message, answered AA.
            figures = page.locator('#connector-figures tr[data-connector="mllp:mllp"]')
            expect(figures.locator('[data-ack="AA"]')).to_have_text("1", timeout=WAIT_MS)
            expect(figures.locator("[data-figure=messages]")).to_have_text("1")
            expect(page.locator("#charts-note")).to_be_hidden()
            for chart in ("#chart-rate", "#chart-acks", "#chart-latency"):
                expect(page.locator(f"{chart} canvas")).to_be_visible()

            # Among the senders: the lab that sent it, one message answered AA, just now.
            lab = sender_row(page, LAB, "mllp:mllp")
            expect(lab.locator("[data-figure=messages]")).to_have_text("1", timeout=WAIT_MS)
            expect(lab.locator('[data-ack="AA"]')).to_have_text("1")
            expect(lab.locator("[data-figure=dead-letters]")).to_have_text("0")
            expect(lab.locator("[data-figure=last-message]")).to_contain_text(" ago")
            expect(lab).to_have_attribute("data-state", "ok")

            # The critical-value alert, raised by the alerts service.
            row = alert_row(page)
            expect(row).to_be_visible(timeout=WAIT_MS)
            expect(row.locator(".status")).to_have_text("RAISED")
            expect(row).to_contain_text("Critical potassium: 6.8 mmol/L")
            page.screenshot(path=str(shots / "overview.png"), full_page=True)

            row.get_by_role("button", name="Acknowledge").click()
            expect(row.locator(".status")).to_have_text("ACKNOWLEDGED", timeout=WAIT_MS)
            expect(row).to_contain_text("ops.admin")
            expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
            expect(row.get_by_role("button", name="Resolve")).to_be_visible()

            # After a reload the token is still there (this tab's session), and the list,
            # read anew from the store, shows the alert acknowledged once the timeline
            # service has stored the change.
            for _ in range(60):
                page.reload()
                expect(page.locator("#whoami")).to_have_text("ops.admin (admin)")
                expect(alert_row(page)).to_be_visible(timeout=WAIT_MS)
                if alert_row(page).locator(".status").inner_text() == "ACKNOWLEDGED":
                    break
                page.wait_for_timeout(500)
            expect(alert_row(page).locator(".status")).to_have_text("ACKNOWLEDGED")
            expect(page.get_by_label("Bearer token")).to_be_hidden()

            # The patient: found by name, their page with the result on the timeline.
            page.get_by_label("Search by").select_option("name")
            page.get_by_label("Search for").fill(FAMILY.lower())
            page.get_by_role("button", name="Search").click()
            found = page.locator("#search-results a", has_text=PATIENT_KEY)
            expect(found).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#search-results")).to_contain_text(FAMILY)
            found.click()
            expect(page.locator("#patient-summary h2")).to_contain_text(FAMILY, timeout=WAIT_MS)
            expect(page.locator("#patient-summary")).to_contain_text("1952-03-14")
            line = page.locator("#patient-timeline tbody tr", has_text="OBSERVATIONS_REPORTED")
            expect(line).to_contain_text("Potassium 6.8 mmol/L")
            expect(page.locator("#patient-timeline")).to_contain_text("ALERT_ACKNOWLEDGED")
            assert urllib.parse.unquote(page.url).endswith(f"#/patients/{PATIENT_KEY}")
            page.screenshot(path=str(shots / "patient.png"), full_page=True)

            # A dead letter: the admission over the connector's limit.  The alarm on dead
            # letters starts (a banner, and the Prometheus gauge), the page shows why and
            # the raw message, and the replay from the page puts the admission's events on
            # the bus (into the live stream); the alarm then clears, said once.
            page.get_by_role("link", name="Overview").first.click()
            admission = message_of(TOO_LARGE)
            assert len(admission) > LIMIT
            assert send(connector.port, admission) in ("AR", "CE")
            banner = page.locator('#banners [data-alarm="dead_letters"]')
            expect(banner).to_contain_text(
                "Dead letters above the threshold: 1 in the last 6 s (threshold 0).",
                timeout=WAIT_MS,
            )
            assert alarm_gauge(web.port, bearer, "dead_letters") == 1
            # Its sender stands out: all it sent of late was rejected, and why.
            admitting = sender_row(page, ADMITTING, "mllp:mllp")
            expect(admitting.locator("[data-figure=dead-letters]")).to_have_text(
                "message_too_large 1", timeout=WAIT_MS
            )
            expect(admitting).to_have_attribute("data-state", "rejecting")
            expect(admitting.locator("[data-figure=state]")).to_contain_text(
                "every message of the last 5 min was rejected"
            )
            expect(admitting.locator('[data-ack="CE"]')).to_have_text("1")
            expect(page.locator("#senders-table tbody tr").first).to_have_attribute(
                "data-sender", ADMITTING
            )
            expect(lab).to_have_attribute("data-state", "ok")
            page.screenshot(path=str(shots / "alarm.png"))
            letter = page.locator("#dead-letters-table tbody tr[data-dead-letter-id]").filter(
                has_text="message too large"
            )
            expect(letter).to_be_visible(timeout=WAIT_MS)
            expect(letter).to_contain_text("ADT^A01")
            letter.get_by_role("button", name="Show").click()
            expect(page.locator("#dead-letters-table pre.raw")).to_contain_text("ADMITWISE|RBGH")
            expect(page.locator('#lag-table tr[data-group*="alerts"]')).to_be_visible(
                timeout=WAIT_MS
            )
            letter.get_by_role("button", name="Replay").click()
            expect(letter.locator(".outcome")).to_contain_text("replayed: ", timeout=WAIT_MS)
            expect(letter.get_by_role("button", name="Replay")).to_be_disabled()
            admitted = page.locator("#stream-entries li", has_text=ADMITTED_KEY)
            expect(admitted.filter(has_text="PATIENT_ADMITTED")).to_be_visible(timeout=WAIT_MS)
            cleared = page.locator('#banners [data-cleared="dead_letters"]')
            expect(cleared).to_contain_text(
                "Dead letters back at or below the threshold", timeout=WAIT_MS
            )
            expect(banner).to_have_count(0)
            expect(page.locator("#banners .banner")).to_have_count(1)
            assert alarm_gauge(web.port, bearer, "dead_letters") == 0
            assert alarm_gauge(web.port, bearer, "dead_letters", "started") == 1
            page.screenshot(path=str(shots / "operations.png"), full_page=True)

            # A new tab of its own (another session) asks for the token again.
            with watched(browser) as other:
                other.page.goto(web.url("/"))
                expect(other.page.get_by_label("Bearer token")).to_be_visible()

            leaks = [u for u in watching.urls if bearer in u or "token=" in u.lower()]
            assert leaks == [], "the token never goes in a URL"
            secrets = (
                bearer,
                PATIENT_KEY,
                "NW448120",
                FAMILY,
                FAMILY.upper(),
                "6.8",
                ADMITTED_KEY,
                ADMITTED_FAMILY,
            )
            said = [line for line in watching.console if any(s in line for s in secrets)]
            assert said == [], f"the console carries no token and no patient data: {said}"
            errors = [
                line
                for line in watching.console
                if line.startswith("pageerror") or "Content Security Policy" in line
            ]
            assert errors == [], "no script error, nothing the page's CSP refused"
        log = web.log_text()
        for secret in (bearer, "NW448120", FAMILY, "RB004417", ADMITTED_FAMILY):
            assert secret not in log, "the web front door's log carries no token or patient"
    finally:
        if web is not None:
            web.stop()
        stop(timeline)


# -- the app in this process ----------------------------------------------------------------------


@contextlib.contextmanager
def connector_metrics(messages: int, port: int | None = None) -> Iterator[int]:
    """A connector's real ``/metrics`` endpoint (hl7bus.metrics) on ``port`` (else a free
    one), having answered ``messages`` messages AA, all from a bed board whose last message
    came two hours ago; yields the port."""
    figures = ConnectorMetrics(CONNECTOR)
    for _ in range(messages):
        figures.answered(AckCode.ACCEPT, BED_BOARD)
    figures.label(figures.sender_last, sender=figures.sender(BED_BOARD)).set(time.time() - 7200)
    port = port or free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def run() -> None:
        server = await serve_http("127.0.0.1", port, figures.registry, lambda: figures.health(True))
        ready.set()
        async with server:
            with contextlib.suppress(asyncio.CancelledError):
                await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(10)


@pytest.fixture(scope="module")
def front_door(tmp_path_factory, request) -> Iterator[str]:
    """The web front door (the real app) in this process, over a store filled from the
    project's own messages, reading a connector's figures; its URL.  Its access audit and
    alert changes go to a port where no broker answers (no request here waits on them)."""
    from hl7bus.services.timeline.store import open_store
    from hl7bus.services.web.app import create_app
    from hl7bus.services.web.audit import AuditLog
    from hl7bus.settings import KafkaSettings, WebSettings

    from web_support import SECRET

    folder = tmp_path_factory.mktemp("dashboard")
    nowhere = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    with (
        connector_metrics(7) as metrics_port,
        filled_store(request, "sqlite", folder) as url,
        open_store(url) as store,
    ):
        settings = WebSettings(
            mllp_metrics_url=f"http://127.0.0.1:{metrics_port}/metrics", figures_poll_s=0.5
        )
        audit = AuditLog(nowhere, "audit.access", schema_id=1, timeout_s=600)
        app = create_app(settings, store, audit, token_secret=SECRET)
        port = free_port()
        try:
            with serving(app, port):
                yield f"http://127.0.0.1:{port}/"
        finally:
            audit.close(timeout_s=0.5)


def test_an_operator_sees_the_figures_but_no_patient_data(front_door, browser) -> None:
    with watched(browser) as watching:
        page = watching.page
        watching.sign_in(front_door, token(Role.OPERATOR, "ops.kim"))
        expect(page.locator("#whoami")).to_have_text("ops.kim (operator)")
        figures = page.locator(f'#connector-figures tr[data-connector="{CONNECTOR}"]')
        expect(figures.locator('[data-ack="AA"]')).to_have_text("7", timeout=WAIT_MS)
        bed_board = sender_row(page, "BEDBOARD^NORTHWIND", CONNECTOR)
        expect(bed_board.locator("[data-figure=messages]")).to_have_text("7")
        expect(bed_board).to_have_attribute("data-state", "silent")
        expect(bed_board.locator("[data-figure=last-message]")).to_have_text("2 h ago")
        expect(bed_board.locator("[data-figure=state]")).to_contain_text("no message for 2 h")
        for panel in ("#stream", "#alerts", "#search"):
            expect(page.locator(f"{panel} .refused")).to_contain_text(
                "The role operator may not read patient data", timeout=WAIT_MS
            )
        expect(page.locator("#stream-entries li")).to_have_count(0)


def test_a_clinician_sees_patient_data_but_not_the_figures(front_door, browser) -> None:
    with watched(browser) as watching:
        page = watching.page
        watching.sign_in(front_door, token(Role.CLINICIAN, "dr.nguyen"))
        expect(page.locator("#whoami")).to_have_text("dr.nguyen (clinician)")
        expect(page.locator("#connectors .refused")).to_contain_text(
            "The role clinician may not", timeout=WAIT_MS
        )
        expect(page.locator("#connector-figures tr[data-connector]")).to_have_count(0)
        expect(page.locator("#senders .refused")).to_contain_text("The role clinician may not")
        expect(page.locator("#senders-table tr[data-sender]")).to_have_count(0)
        port = urllib.parse.urlsplit(front_door).port
        assert port is not None
        clinician = token(Role.CLINICIAN, "dr.nguyen")
        assert get(port, "/api/v1/operators/senders", clinician).status == 403
        expect(page.locator("#lag .refused")).to_contain_text("The role clinician may not")
        expect(page.locator("#dead-letters .refused")).to_contain_text(
            "The role clinician may not read or replay dead letters"
        )
        expect(page.locator("#banners .banner")).to_have_count(0)
        expect(page.locator("#stream-status")).to_have_text("live", timeout=WAIT_MS)
        expect(alert_row_of(page, SAMPLE)).to_be_visible(timeout=WAIT_MS)
        # by identifier, and straight to the patient's page by its address
        page.get_by_label("Search by").select_option("identifier")
        page.get_by_label("Search for").fill(SAMPLE.split("|")[1])
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#search-results a", has_text=SAMPLE)).to_be_visible()
        page.goto(f"{front_door}#/patients/{urllib.parse.quote(SAMPLE, safe='')}")
        expect(page.locator("#patient-summary h2")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#patient-timeline tbody tr").first).to_be_visible()


def alert_row_of(page: Page, key: str):
    return page.locator("#alerts-table tbody tr", has_text=key)


def test_a_wrong_token_is_refused_and_asked_for_again(front_door, browser) -> None:
    with watched(browser) as watching:
        page = watching.page
        watching.sign_in(front_door, "not-a-token")
        expect(page.locator("#token-error")).to_contain_text(
            "The token was refused: The token is not a valid hl7bus token.", timeout=WAIT_MS
        )
        expect(page.get_by_label("Bearer token")).to_be_visible()
        assert page.evaluate("sessionStorage.length") == 0


def test_without_the_chart_library_the_page_says_so_and_shows_the_figures(
    front_door, browser
) -> None:
    with watched(browser) as watching:
        page = watching.page
        watching.context.route(re.compile(r".*/static/vendor/.*"), lambda route: route.abort())
        watching.sign_in(front_door, token(Role.ADMIN, "ops.admin"))
        expect(page.locator("#charts-note")).to_contain_text("Charts are unavailable")
        figures = page.locator(f'#connector-figures tr[data-connector="{CONNECTOR}"]')
        expect(figures.locator('[data-ack="AA"]')).to_have_text("7", timeout=WAIT_MS)
        expect(page.locator("#chart-rate canvas")).to_have_count(0)
        errors = [line for line in watching.console if line.startswith("pageerror")]
        assert errors == [], errors


def test_the_watch_says_when_a_connector_does_not_answer_and_when_it_does_again() -> None:
    from hl7bus.services.web.connector_watch import ConnectorWatch

    def read(watch: ConnectorWatch) -> None:  # in a thread: playwright's loop holds this one
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, watch.read_once()).result(30)

    port = free_port()
    watch = ConnectorWatch(f"http://127.0.0.1:{port}/metrics", interval_s=1)
    read(watch)
    state = watch.state
    assert (state.reachable, state.read_at) == (False, None)
    assert state.error == "connection refused"
    with connector_metrics(3, port=port):
        read(watch)
        read(watch)
    state = watch.state
    assert (state.reachable, state.error) == (True, None)
    assert [r.connectors[0].acks["AA"] for r in watch.readings] == [3, 3]
    for path, error in (("/healthz", "the answer is not Prometheus metrics"), ("/x", "HTTP 404")):
        wrong = ConnectorWatch(f"http://127.0.0.1:{port}{path}", interval_s=1)
        with connector_metrics(3, port=port):
            read(wrong)
        assert (wrong.state.reachable, wrong.state.error) == (False, error)
