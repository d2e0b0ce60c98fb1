"""A connector that cannot start says why in one sentence and exits non-zero: a port in use
(the MLLP port or the metrics port, with one process or several workers), a Kafka broker
that does not answer.  It announces "listening" only once every port is bound, and every
line it writes on stderr is a JSON log line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BusTopics, free_port

pytestmark = pytest.mark.integration

HL7BUS = Path(sys.executable).parent / "hl7bus"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def run_connector(args: list[str], env: dict[str, str]) -> tuple[int, list[dict]]:
    """Run ``hl7bus connector ...`` until it exits; its exit code and its log entries."""
    done = subprocess.run(
        [str(HL7BUS), "connector", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    entries = []
    for line in done.stderr.splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"not a JSON log line: {line!r}") from None
    return done.returncode, entries


def the_error(entries: list[dict], *words: str) -> str:
    """The one error sentence that names every one of ``words``."""
    errors = [e["msg"] for e in entries if e["level"] == "error"]
    naming = [msg for msg in errors if all(word in msg for word in words)]
    assert len(naming) == 1, errors
    return naming[0]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_mllp_port_in_use(bus_topics: BusTopics, taken_port: int, workers: str) -> None:
    code, entries = run_connector(
        ["mllp", "--port", str(taken_port), "--metrics-port", str(free_port())],
        {**bus_topics.env(), "HL7BUS_MLLP_WORKERS": workers},
    )
    assert code != 0
    sentence = the_error(entries, str(taken_port), "in use")
    assert "HL7BUS_MLLP_PORT" in sentence
    assert not [e for e in entries if e["msg"] == "listening"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_port_in_use(bus_topics: BusTopics, taken_port: int, workers: str) -> None:
    port = free_port()
    code, entries = run_connector(
        ["mllp", "--port", str(port), "--metrics-port", str(taken_port)],
        {**bus_topics.env(), "HL7BUS_MLLP_WORKERS": workers},
    )
    assert code != 0
    sentence = the_error(entries, str(taken_port), "in use")
    assert "HL7BUS_MLLP_METRICS_PORT" in sentence
    assert not [e for e in entries if e["msg"] == "listening"]
    with pytest.raises(OSError):  # nobody listens on the MLLP port any more
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_file_connector_metrics_port_in_use(
    bus_topics: BusTopics, taken_port: int, tmp_path: Path
) -> None:
    code, entries = run_connector(
        ["files", str(tmp_path), "--metrics-port", str(taken_port)], bus_topics.env()
    )
    assert code != 0
    sentence = the_error(entries, str(taken_port), "in use")
    assert "HL7BUS_FILES_METRICS_PORT" in sentence
    assert not [e for e in entries if e["msg"] == "watching"]


def test_the_mllp_connector_needs_a_broker_at_start(bus_topics: BusTopics) -> None:
    """It would accept messages it cannot store; the file connector starts without Kafka
    (its files wait: test_files_connector)."""
    env = {**bus_topics.env(), "HL7BUS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    code, entries = run_connector(["mllp", "--port", "0", "--metrics-port", "0"], env)
    assert code == 1
    the_error(entries, "127.0.0.1:1", "HL7BUS_KAFKA_BOOTSTRAP_SERVERS")
    assert not [e for e in entries if e["msg"] == "listening"]
