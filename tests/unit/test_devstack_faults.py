"""`hl7bus dev up` refuses to start on a broken machine with one sentence and a non-zero
exit, and leaves nothing running behind; it runs the timeline service and the web front door
beside Kafka, the registry and the MLLP connector, and `dev down` stops them all."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
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
    "TIMELINE_METRICS_PORT",
    "ALERTS_METRICS_PORT",
    "WEB_PORT",
)


def _stack_env(home: Path, **env: str) -> dict[str, str]:
    """The environment of a stack in its own home, on free ports unless a test sets one."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HL7BUS_DEV_")}
    full_env.update({f"HL7BUS_DEV_{name}": str(_free_port()) for name in PORT_SETTINGS})
    full_env.update({"HL7BUS_DEV_HOME": str(home), **env})
    return full_env


def _hl7bus(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HL7BUS, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def _dev_up(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`hl7bus dev up` in its own home, on free ports unless a test sets one."""
    return _hl7bus(_stack_env(home, **env), "dev", "up")


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


@pytest.mark.parametrize("setting", ["TIMELINE_METRICS_PORT", "ALERTS_METRICS_PORT", "WEB_PORT"])
def test_busy_port_of_a_service_is_named_with_its_setting(tmp_path: Path, setting: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _dev_up(tmp_path, **{f"HL7BUS_DEV_{setting}": str(port)})
    assert result.returncode == 1
    line = _one_sentence(result.stderr)
    assert f"Port {port}" in line and f"HL7BUS_DEV_{setting}" in line
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
    assert (after.timeline_pid, after.web_pid) == (before.timeline_pid, before.web_pid)
    assert after.timeline_pid and after.web_pid


def _health(url: str) -> tuple[int, dict] | None:
    """A /healthz answer (status, JSON), or None when nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())
    except OSError:
        return None


def _parts(status_output: str) -> dict[str, str]:
    """`dev status`'s line of each part, by its first word."""
    return {line.split()[0]: line for line in status_output.splitlines() if line.strip()}


@pytest.mark.integration
def test_dev_up_runs_the_timeline_and_the_web_front_door_until_dev_down(tmp_path: Path) -> None:
    """A whole stack of this test's own (its home, free ports; the jars of the shared cache),
    so that stopping parts of it and `dev down` stop only what this test started."""
    from hl7bus.devstack.stack import LocalStack
    from hl7bus.settings import DevStackSettings

    shared_cache = DevStackSettings().cache_dir
    shared_cache.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").symlink_to(shared_cache)
    env = _stack_env(home)
    ports = {name.lower(): int(env[f"HL7BUS_DEV_{name}"]) for name in PORT_SETTINGS}
    stack = LocalStack(DevStackSettings(home=home, **ports))
    timeline_health = f"http://127.0.0.1:{ports['timeline_metrics_port']}/healthz"
    web = f"http://127.0.0.1:{ports['web_port']}"
    store = f"sqlite:///{home / 'dev' / 'timeline.db'}"
    try:
        up = _hl7bus(env, "dev", "up", timeout=400)
        assert up.returncode == 0, up.stderr
        assert f"Web front door ready at {web}" in up.stdout
        assert _health(timeline_health) == (
            200,
            {"ok": True, "kafka": "reachable", "store": "reachable"},
        )
        code, health = _health(f"{web}/healthz") or (None, {})
        assert code == 200 and health["ok"] is True and health["store"] == "reachable"

        status = _hl7bus(env, "dev", "status")
        assert status.returncode == 0, status.stdout
        parts = _parts(status.stdout)
        assert "running (pid" in parts["Timeline"] and store in parts["Timeline"]
        assert f"http://127.0.0.1:{ports['timeline_metrics_port']}/metrics" in parts["Timeline"]
        assert "running (pid" in parts["Web"] and f"{web}/api/v1" in parts["Web"]

        # Without the web front door, the demo plays the feed and says it skips the API.
        before = stack.status()
        stack.down(echo=lambda _line: None, only=frozenset({"timeline", "web"}))
        status = _hl7bus(env, "dev", "status")
        assert status.returncode == 3
        parts = _parts(status.stdout)
        assert "stopped" in parts["Timeline"] and "stopped" in parts["Web"]
        demo = _hl7bus(env, "demo")
        assert demo.returncode == 0, demo.stderr
        skipped = [line for line in demo.stdout.splitlines() if web in line]
        assert len(skipped) == 1 and "does not answer" in skipped[0], demo.stdout
        assert "TOKEN=" not in demo.stdout and "curl" not in demo.stdout

        # A part that fails to start: what that `dev up` started is stopped again, in one
        # sentence; what ran before it keeps running.
        failed = _hl7bus({**env, "HL7BUS_WEB_TOKEN_SECRET": "too short"}, "dev", "up")
        assert failed.returncode == 1
        line = _one_sentence(failed.stderr)
        assert "web front door" in line and "HL7BUS_WEB_TOKEN_SECRET" in line
        after = stack.status()
        assert (after.timeline_pid, after.web_pid) == (None, None)
        assert _health(timeline_health) is None
        assert (after.kafka_pid, after.registry_pid, after.connector_pid) == (
            before.kafka_pid,
            before.registry_pid,
            before.connector_pid,
        )

        again = _hl7bus(env, "dev", "up")
        assert again.returncode == 0, again.stderr
        assert "Timeline service ready" in again.stdout and "Web front door ready" in again.stdout
        assert stack.status().kafka_pid == before.kafka_pid
        second = _hl7bus(env, "dev", "up")
        assert second.returncode == 0 and "already running" in second.stdout

        down = _hl7bus(env, "dev", "down")
        assert down.returncode == 0, down.stderr
        assert "Stopped timeline" in down.stdout and "Stopped web" in down.stdout
        assert _health(timeline_health) is None and _health(f"{web}/healthz") is None
        assert _hl7bus(env, "dev", "status").returncode == 3
        _nothing_running(home)
    finally:
        stack.down(echo=lambda _line: None)
