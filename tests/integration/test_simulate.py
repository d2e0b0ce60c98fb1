"""`hl7bus simulate` feeds a real MLLP connector — set up as the dev stack's, with the sample
hospital's sender profiles — on the test's own topics: every message it sent is on the raw
topic, the good ones answered AA/CA with their events keyed by the hospital's record numbers
through each vendor's profile, the broken ones answered AE and on the dead-letter topic.  With
no connector listening it says so in one sentence."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from itertools import islice

import pytest

from hl7bus.commands.demo import sample_profiles
from hl7bus.simulate import VENDORS, feed

from conftest import read_topic

pytestmark = pytest.mark.integration

SEED = 4417
PATIENTS = 40  # the command's default census


def test_the_simulated_hospital_lands_on_the_bus(bus_topics, start_mllp) -> None:
    connector = start_mllp(HL7BUS_MLLP_PROFILES=json.dumps([str(sample_profiles())]))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "hl7bus.cli", "simulate", "--rate", "40", "--duration", "5"),
            *("--seed", str(SEED), "--port", str(connector.port), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    sent = summary["sent"]
    assert 180 <= sent <= 200
    # What was sent: the feed's first messages, in its order (each vendor's in order).
    expected = list(islice(feed(SEED, PATIENTS), sent))
    broken = {m.control_id for m in expected if m.broken}
    assert broken, "a stretch of this seed holds broken messages"
    assert summary["unexpected"] == []
    assert set(summary["broken"]["control_ids"]) == broken
    assert summary["acks"] == {
        **({"CA": n} if (n := sum(m.vendor == "VAXTRACK" for m in expected)) else {}),
        "AA": sent - len(broken) - n,
        "AE": len(broken),
    }
    assert {v["vendor"]: v["messages"] for v in summary["vendors"]} == {
        v.application: sum(m.vendor == v.application for m in expected) for v in VENDORS
    }

    raw = read_topic(bus_topics, bus_topics.topics.raw, at_least=sent)
    assert sorted(r.value["message_control_id"] for r in raw) == sorted(
        m.control_id for m in expected
    )
    dead = read_topic(bus_topics, bus_topics.topics.dlq, at_least=len(broken))
    assert {r.value["message_control_id"] for r in dead} == broken
    assert {r.value["error_code"] for r in dead} == {"required field missing"}

    events = read_topic(bus_topics, bus_topics.topics.events, at_least=sent - len(broken))
    by_message = Counter(e.value["source"]["message_control_id"] for e in events)
    assert set(by_message) == {m.control_id for m in expected if not m.broken}
    for record in events:
        value = record.value
        vendor = next(v for v in VENDORS if v.application == value["source"]["sending_application"])
        assert value["source"]["profile"] == vendor.profile
        assert value["patient"]["key"].startswith("ASHGROVE|")
        assert record.key == value["patient"]["key"].encode()


def test_no_connector_is_one_sentence_and_no_traceback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    done = subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", "simulate", "--port", str(port), "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"hl7bus: no MLLP connector answers at 127.0.0.1:{port} (")
    assert "hl7bus dev up" in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
