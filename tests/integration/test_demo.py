"""`hl7bus demo` plays the sample hospital's feed into the dev stack's MLLP connector and
shows what landed: every vendor system's messages answered, the legacy billing system's
rejected into the dead-letter topic with the reason."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


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
    assert any(line.split()[:2] == ["AR", "BILL0001"] for line in out.splitlines())
    landed = {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line.startswith("  hl7.") or line.startswith("  clinical.")
    }
    assert landed["hl7.raw"] == "+16"
    assert landed["clinical.events"] == "+14"
    assert landed["hl7.dlq"] == "+2"
    assert "BILL0001: unsupported message type" in out
