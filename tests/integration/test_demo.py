"""`hl7bus demo` plays the sample hospital's feed into the dev stack's MLLP connector and
shows what landed: every vendor system's messages answered, the legacy billing system's
rejected into the dead-letter topic with the reason; then a patient's timeline through the
web front door, with a clinician token and the `curl` line that fetches it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from paths import REPO, SAMPLE_FEED

pytestmark = pytest.mark.integration

PATIENT = "NORTHWIND|NW100377"  # admitted, results, medications, transfer, account, discharge, a note


def _event_ids_of(patient_key: str) -> set[str]:
    """The ids of the sample feed's events of one patient, as `hl7bus translate` gives them."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hl7bus.cli",
            "translate",
            "--profile",
            str(REPO / "hl7bus" / "samples" / "profiles"),
            *map(str, sorted(SAMPLE_FEED.glob("*.hl7"))),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return {e["event_id"] for e in events if e["patient"]["key"] == patient_key}


def test_demo_plays_the_feed_into_the_dev_stack(bus):
    if bus.origin != "local dev stack":
        pytest.skip(
            f"the demo runs against the local dev stack; the broker here is from {bus.origin}"
        )
    done = subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for control_id in ("NWADT0001", "LS20261128-0001", "RX0001", "IMM0001", "SCH0001", "DOC0001"):
        line = next(line for line in out.splitlines() if control_id in line)
        assert line.split()[0] in ("AA", "CA"), line
    # OLDBILL's BAR opens the visit's account: AA; its ADT without an identifier is a content
    # error, AR as the sender's profile (samples/profiles/oldbill.toml) asks instead of AE.
    assert any(line.split()[:2] == ["AA", "BILL0001"] for line in out.splitlines())
    assert any(line.split()[:2] == ["AR", "BILL0002"] for line in out.splitlines())
    landed = {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line.startswith("  hl7.") or line.startswith("  clinical.")
    }
    assert landed["hl7.raw"] == "+16"
    assert landed["clinical.events"] == "+15"
    assert landed["hl7.dlq"] == "+1"
    assert "BILL0001" not in out.split("Dead letters", 1)[1].split("\n\n", 1)[0]

    # The patient's timeline through the web API, as the demo shows it ...
    found = re.search(rf"The timeline of {re.escape(PATIENT)} .*web API.*: (\d+) entries", out)
    assert found, out
    expected = _event_ids_of(PATIENT)
    assert len(expected) == 9
    assert int(found.group(1)) >= len(expected)
    # ... and the token and `curl` line it prints for trying it, which give those entries.
    token = re.search(r"^\s*TOKEN=(\S+)$", out, re.MULTILINE)
    curl = re.search(r"""^\s*curl -H "Authorization: Bearer \$TOKEN" '(\S+)'$""", out, re.MULTILINE)
    assert token and curl, out
    url = curl.group(1)
    assert "/api/v1/patients/NORTHWIND%7CNW100377/timeline" in url
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token.group(1)}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        timeline = json.loads(response.read())
    entries = timeline["entries"]
    assert expected <= {entry["event_id"] for entry in entries}
    shown = out[found.end() :]
    for entry in entries[:3]:
        assert entry["event_type"] in shown and entry["summary"] in shown, entry
