"""``hl7bus service alerts`` with a rule file that has an error: refused at start with the
file, the line and the reason in one sentence, exit 1, no traceback — before it needs Kafka."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RULES = """\
[[rule]]
id = "critical-value"
severity = "CRITICAL"
suppress = "1h"
message = "Critical {name}: {value} {unit}"

[[rule]]
id = "news2"
severity = "URGENT"
suppress = "1h"
message = "NEWS2 {score}"
"""


def test_a_rule_file_with_an_error_is_refused_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    done = subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", "service", "alerts", "--rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        # Nothing listens here: the rule file must be refused before Kafka is asked.
        env={"HL7BUS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    (last,) = [line for line in lines if line.get("level") == "error"]
    assert "rules.toml line 9" in last["msg"], last
    assert "URGENT" in last["msg"] and "WARNING" in last["msg"], last


def test_a_missing_rule_file_is_one_sentence(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hl7bus.cli",
            "service",
            "alerts",
            "--rules",
            str(tmp_path / "no.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HL7BUS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "no.toml" in done.stderr
