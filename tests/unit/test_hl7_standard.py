"""Readable field names and the optional strict check, from hl7apy's tables of the standard."""

from __future__ import annotations

import json
import subprocess
import sys

from hl7bus.hl7 import parse_message
from hl7bus.hl7.standard import check, describe, field_name, standard_version

CLEAN = (
    b"MSH|^~\\&|LAB|GENHOSP|EMR|GENHOSP|20261128101500||ORU^R01^ORU_R01|CTRL1|P|2.5.1\r"
    b"PID|1||12345^^^GENHOSP^MR||DOE^JANE||19800101|F\r"
    b"OBR|1|ORD1|FIL1|2823-3^Potassium^LN|||20261128094500\r"
    b"OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F\r"
)


def test_field_names_come_from_the_standard():
    assert field_name("PID", 3) == "Patient Identifier List"
    assert describe("OBX", 14, "2.3.1") == "OBX-14 (Date Time Of The Observation)"
    assert describe("ZPI", 3) == "ZPI-3"
    assert describe(None, None) is None


def test_versions_map_to_the_tables_known():
    assert standard_version("2.5.1") == "2.5.1"
    assert standard_version("2.3.1") == "2.3.1"
    assert standard_version("2.9") is None


def test_a_clean_message_conforms():
    assert check(parse_message(CLEAN)).errors == ()


def test_a_missing_required_field_breaks_it():
    no_status = CLEAN.replace(b"|N|||F\r", b"|N|||\r")  # OBX-11 is required
    assert check(parse_message(no_status)).errors == ("Missing required child OBX.OBX_11",)


def test_translate_strict_rejects_what_breaks_the_standard(tmp_path):
    good, bad = tmp_path / "good.hl7", tmp_path / "bad.hl7"
    good.write_bytes(CLEAN)
    bad.write_bytes(CLEAN.replace(b"|N|||F\r", b"|N|||\r"))
    done = subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", "translate", "--strict", str(good), str(bad)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stdout.splitlines()) == 1
    (error,) = [json.loads(line) for line in done.stderr.splitlines()]
    assert error["file"] == str(bad) and error["code"] == "data type error"
    assert error["message"].startswith("Strict validation against HL7 v2.5.1")
    lenient = subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", "translate", str(bad)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert lenient.returncode == 0
