"""``hl7bus translate`` as a user runs it: a subprocess, files or stdin in, one JSON event
per line on stdout, one JSON error per rejected message on stderr, exit 0 or 2, and never
a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hl7bus.events.records import decode, encode, from_record

REPO = Path(__file__).resolve().parents[2]
from paths import CORPUS  # noqa: E402

ERROR_KEYS = {"file", "control_id", "code", "segment", "field", "message"}

ADT = (
    "MSH|^~\\&|REG|GENHOSP|BUS|HOSP|20240115103000||ADT^A01|ADT-1|P|2.5\r"
    "EVN|A01|20240115103000\r"
    "PID|1||111^^^GENHOSP^MR||Doe^Jane||19800101|F\r"
    "PV1|1|I|WARD^12^A\r"
)
ORU = (
    "MSH|^~\\&|LAB|GENHOSP|BUS|HOSP|20240115113000||ORU^R01|ORU-1|P|2.5\r"
    "PID|1||111^^^GENHOSP^MR||Doe^Jane\r"
    "OBR|1|P1|F1|2345-7^Glucose^LN|||20240115110000\r"
    "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|3.9-6.1|N|||F\r"
)
ACK = "MSH|^~\\&|LAB|GENHOSP|BUS|HOSP|20240115113000||ACK|ACK-1|P|2.5\rMSA|AA|ORU-1\r"
# HL7 v3.0 does not write MSH segments: a version hl7bus does not read.
V3 = ADT.replace("|ADT-1|P|2.5", "|V3-1|P|3.0")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", "translate", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    return done


def events(done: subprocess.CompletedProcess[bytes]) -> list[dict]:
    lines = done.stdout.decode("utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # one JSON object per line
    for record in records:
        event = from_record(record)  # the printed record is the Avro record
        assert decode(encode(event)) == event
    return records


def errors(done: subprocess.CompletedProcess[bytes]) -> list[dict]:
    found = [json.loads(line) for line in done.stderr.decode("utf-8").splitlines()]
    for error in found:
        assert set(error) >= ERROR_KEYS, error
        assert error["message"]
    return found


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("latin-1") if isinstance(data, str) else data)
    return path


def test_all_translated_exits_0(tmp_path: Path) -> None:
    done = run(str(write(tmp_path, "adt.hl7", ADT)), str(write(tmp_path, "oru.hl7", ORU)))
    assert done.returncode == 0
    assert errors(done) == []
    records = events(done)
    assert [r["event_type"] for r in records] == ["PATIENT_ADMITTED", "OBSERVATIONS_REPORTED"]
    assert [r["source"]["message_control_id"] for r in records] == ["ADT-1", "ORU-1"]
    assert records[0]["patient"]["key"] == "GENHOSP|111"
    assert records[0]["source"]["connector"] == "translate"
    assert records[0]["source"]["received_at"]  # stamped by the command
    assert records[1]["payload"]["observations"][0]["value"] == "5.4"


def test_a_mix_of_good_and_bad_files_exits_2_with_one_error_per_rejected_message(
    tmp_path: Path,
) -> None:
    good = write(tmp_path, "good.hl7", ADT)
    v3 = write(tmp_path, "v3.hl7", V3)
    junk = write(tmp_path, "junk.hl7", "hello, world\n")
    no_id = write(tmp_path, "no-id.hl7", ADT.replace("|ADT-1|", "||"))
    mixed = write(tmp_path, "mixed.hl7", ADT + V3 + ORU)  # three messages, one rejected
    done = run(str(good), str(v3), str(junk), str(no_id), str(mixed))
    assert done.returncode == 2
    assert [r["source"]["message_control_id"] for r in events(done)] == ["ADT-1", "ADT-1", "ORU-1"]
    found = errors(done)
    assert [(e["file"], e["code"]) for e in found] == [
        (str(v3), "unsupported version id"),
        (str(junk), "not an HL7 message"),
        (str(no_id), "required field missing"),
        (str(mixed), "unsupported version id"),
    ]
    assert found[0]["control_id"] == "V3-1"
    assert (found[0]["segment"], found[0]["field"]) == ("MSH", 12)
    assert (found[2]["segment"], found[2]["field"], found[2]["control_id"]) == ("MSH", 10, None)
    assert found[3].get("message_index") == 2  # which message of the file


def test_a_message_of_a_type_without_a_mapper_is_no_error(tmp_path: Path) -> None:
    """An ACK, a query, a Z-type: well-formed, stored by the connectors, no event here."""
    ack = write(tmp_path, "ack.hl7", ACK)
    mixed = write(tmp_path, "mixed.hl7", ADT + ACK.replace("ACK-1", "ACK-2") + ORU)
    done = run(str(ack), str(mixed))
    assert done.returncode == 0
    assert errors(done) == []
    assert [r["source"]["message_control_id"] for r in events(done)] == ["ADT-1", "ORU-1"]


def test_stdin_with_dash() -> None:
    done = run("-", stdin=ORU.encode())
    assert done.returncode == 0
    assert [r["event_type"] for r in events(done)] == ["OBSERVATIONS_REPORTED"]
    bad = run("-", stdin=b"not hl7 at all")
    assert bad.returncode == 2
    assert [(e["file"], e["code"]) for e in errors(bad)] == [("-", "not an HL7 message")]


def test_an_mllp_framed_stream() -> None:
    frames = b"".join(b"\x0b" + m.encode() + b"\x1c\x0d" for m in (ADT, V3, ORU))
    done = run("-", stdin=frames)
    assert done.returncode == 2
    assert [r["source"]["message_control_id"] for r in events(done)] == ["ADT-1", "ORU-1"]
    assert [e["control_id"] for e in errors(done)] == ["V3-1"]


def test_an_mllp_stream_cut_in_the_middle_of_a_frame() -> None:
    frames = b"\x0b" + ADT.encode() + b"\x1c\x0d" + b"\x0b" + ORU.encode()[:40]
    done = run("-", stdin=frames)
    assert done.returncode == 2  # the truncated message is reported, the first one is kept
    assert [r["source"]["message_control_id"] for r in events(done)] == ["ADT-1"]
    assert len(errors(done)) == 1


def test_a_batch_file(tmp_path: Path) -> None:
    batch = "FHS|^~\\&|LAB|GENHOSP\rBHS|^~\\&|LAB|GENHOSP\r" + ADT + ORU + "BTS|2\rFTS|1\r"
    done = run(str(write(tmp_path, "batch.hl7", batch)))
    assert done.returncode == 0
    assert [r["event_type"] for r in events(done)] == ["PATIENT_ADMITTED", "OBSERVATIONS_REPORTED"]


@pytest.mark.corpus
def test_a_corpus_batch_file() -> None:
    done = run(str(CORPUS / "pyhl7__sample_file1__1.batch.hl7"))
    assert done.returncode == 0
    assert [r["source"]["message_control_id"] for r in events(done)] == [
        "12334456778890",
        "12334456778891",
        "12334456778890",
    ]


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_inputs_are_reported_not_crashed_on(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "nope.hl7" if kind == "missing" else tmp_path
    good = write(tmp_path, "good.hl7", ADT)
    done = run(str(target), str(good))
    assert done.returncode == 2
    assert len(events(done)) == 1  # the next file is still translated
    (error,) = errors(done)
    assert error["file"] == str(target)
    assert error["code"] == "unreadable file"


def test_binary_garbage_and_odd_encodings_never_crash(tmp_path: Path) -> None:
    inputs = [
        write(tmp_path, "random.bin", bytes(range(256)) * 40),
        write(tmp_path, "utf16.hl7", b"\xff\xfe" + ADT.encode("utf-16-le")),
        write(tmp_path, "nul.hl7", b"\x00" * 1000),
        write(tmp_path, "frames-only.hl7", b"\x0b\x1c\x0d" * 50),
        write(tmp_path, "msh-only.hl7", b"MSH|"),
    ]
    done = run(*map(str, inputs))
    assert done.returncode in (0, 2)
    records = events(done)
    assert [r["source"]["message_control_id"] for r in records] == ["ADT-1"]  # the UTF-16 one
    assert {e["file"] for e in errors(done)} >= {str(inputs[0]), str(inputs[4])}


def test_an_empty_file_is_reported(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.hl7", b"")
    blank = write(tmp_path, "blank.hl7", b"\r\n\r\n")
    done = run(str(empty), str(blank))
    assert done.returncode == 2
    assert len(errors(done)) == 2


def test_empty_stdin_is_rejected_like_an_empty_file() -> None:
    done = run("-", stdin=b"")
    assert done.returncode == 2
    assert done.stdout == b""
    assert [(e["file"], e["code"]) for e in errors(done)] == [("-", "not an HL7 message")]


def test_a_profile_changes_the_output_and_a_bad_one_stops_with_one_sentence(tmp_path: Path) -> None:
    profile = write(
        tmp_path,
        "genhosp.toml",
        """timezone = "Europe/Paris"
[match]
sending_facility = "GENHOSP"
""",
    )
    done = run("--profile", str(profile), str(write(tmp_path, "adt.hl7", ADT)))
    assert done.returncode == 0
    (record,) = events(done)
    assert record["recorded_at"] == "2024-01-15T10:30:00+01:00"
    assert record["source"]["profile"] == "genhosp"
    bad = write(tmp_path, "bad.toml", 'timezone = "Nowhere/Nothing"\n')
    refused = run("--profile", str(bad), str(tmp_path / "adt.hl7"))
    assert refused.returncode == 1
    assert refused.stdout == b""
    message = refused.stderr.decode()
    assert message.startswith("hl7bus: ") and str(bad) in message and "Nowhere/Nothing" in message
    assert message.count("\n") == 1


def test_non_ascii_values_are_printed_as_utf8_json(tmp_path: Path) -> None:
    adt = ADT.replace("Doe^Jane", "Müller^Zoë").replace("|2.5\r", "|2.5||||||8859/1\r", 1)
    done = run(str(write(tmp_path, "latin1.hl7", adt)))
    assert done.returncode == 0
    (record,) = events(done)
    assert record["patient"]["name"] == {
        "family": "Müller",
        "given": ["Zoë"],
        "prefix": None,
        "suffix": None,
    }
    assert "Müller".encode() in done.stdout
