"""`hl7bus dev up` refuses to start on a broken machine with one sentence and a non-zero
exit, and leaves nothing running behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HL7BUS = [sys.executable, "-m", "hl7bus.cli"]


PORT_SETTINGS = (
    "KAFKA_PORT",
    "CONTROLLER_PORT",
    "REGISTRY_PORT",
    "REGISTRY_MANAGEMENT_PORT",
    "MLLP_PORT",
    "MLLP_METRICS_PORT",
)


def _dev_up(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`hl7bus dev up` in its own home, on free ports unless a test sets one."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HL7BUS_DEV_")}
    full_env.update({f"HL7BUS_DEV_{name}": str(_free_port()) for name in PORT_SETTINGS})
    full_env.update({"HL7BUS_DEV_HOME": str(home), **env})
    return subprocess.run(
        [*HL7BUS, "dev", "up"],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("hl7bus: ")
    assert "Traceback" not in stderr
    return lines[0]


def _nothing_running(home: Path) -> None:
    assert (
        not list((home / "dev" / "run").glob("*.pid")) if (home / "dev" / "run").exists() else True
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_port_in_use_is_named_with_its_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _dev_up(
            tmp_path, HL7BUS_DEV_KAFKA_PORT=str(port), HL7BUS_DEV_CONTROLLER_PORT=str(_free_port())
        )
    assert result.returncode == 1
    line = _one_sentence(result.stderr)
    assert f"Port {port}" in line and "HL7BUS_DEV_KAFKA_PORT" in line
    _nothing_running(tmp_path)


def test_missing_java_says_how_to_fix(tmp_path: Path) -> None:
    result = _dev_up(tmp_path, HL7BUS_DEV_JAVA_HOME=str(tmp_path / "no-such-jdk"))
    assert result.returncode == 1
    line = _one_sentence(result.stderr)
    assert "Java 17" in line and "HL7BUS_DEV_JAVA_HOME" in line
    _nothing_running(tmp_path)


def test_missing_maven_says_how_to_fix(tmp_path: Path) -> None:
    java = shutil.which("java")
    assert java, "the test machine needs a java on PATH"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(java)
    result = _dev_up(
        tmp_path / "home",
        PATH=str(bin_dir),
        HL7BUS_DEV_KAFKA_PORT=str(_free_port()),
        HL7BUS_DEV_CONTROLLER_PORT=str(_free_port()),
        HL7BUS_DEV_REGISTRY_PORT=str(_free_port()),
        HL7BUS_DEV_REGISTRY_MANAGEMENT_PORT=str(_free_port()),
    )
    assert result.returncode == 1
    line = _one_sentence(result.stderr)
    assert "Maven" in line and "mvn" in line
    _nothing_running(tmp_path / "home")


def test_broken_cache_is_named_with_the_command_that_clears_it(tmp_path: Path) -> None:
    kafka = tmp_path / "cache" / "kafka-4.1.1"
    (kafka / "libs").mkdir(parents=True)
    (kafka / "libs" / "kafka_2.13-4.1.1.jar").write_bytes(b"not a jar")
    (kafka / ".complete").write_text("kafka_2.13-4.1.1.jar\n")
    result = _dev_up(
        tmp_path,
        HL7BUS_DEV_KAFKA_PORT=str(_free_port()),
        HL7BUS_DEV_CONTROLLER_PORT=str(_free_port()),
        HL7BUS_DEV_REGISTRY_PORT=str(_free_port()),
        HL7BUS_DEV_REGISTRY_MANAGEMENT_PORT=str(_free_port()),
    )
    assert result.returncode == 1
    line = _one_sentence(result.stderr)
    assert "damaged" in line and f"rm -rf {kafka}" in line
    _nothing_running(tmp_path)


@pytest.mark.integration
def test_second_up_says_it_is_running_and_does_nothing(bus) -> None:
    if bus.origin != "local dev stack":
        pytest.skip(f"needs the local dev stack; the broker here comes from {bus.origin}")
    from hl7bus.devstack.stack import LocalStack
    from hl7bus.settings import DevStackSettings

    before = LocalStack(DevStackSettings()).status()
    result = subprocess.run(
        [*HL7BUS, "dev", "up"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "already running" in result.stdout
    after = LocalStack(DevStackSettings()).status()
    assert (after.kafka_pid, after.registry_pid) == (before.kafka_pid, before.registry_pid)
