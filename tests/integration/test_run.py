"""`hl7bus run` (what `make run` runs): on the local stack it prints the dashboard's address
and an operator token that the dashboard's API takes, feeds the simulated hospital into the
MLLP connector and follows the messages and events as they flow; a second run is told that
one runs; Ctrl-C stops the simulator and leaves alone what the run did not start."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

pytestmark = pytest.mark.integration

FOLLOWED = re.compile(r"^\d\d:\d\d:\d\d · messages \+(\d+)(?: \([^)]*\))? · events \+(\d+)")


class Lines:
    """A process's stdout, line by line, read in a thread so a test can wait with a limit."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            self.lines.put(line.rstrip("\n"))

    def until(self, pattern: re.Pattern[str] | str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(
            f"no line matching {pattern!r} in {timeout:g} s:\n" + "\n".join(self.seen)
        )


def _hl7bus(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", *args], capture_output=True, text=True, **kw
    )


def _simulators(seed: int) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-f", f"hl7bus.cli simulate .*--seed {seed} "], capture_output=True, text=True
    )
    return found.stdout.split()


def test_run_feeds_the_simulated_hospital_and_follows_it_until_ctrl_c(bus):
    if bus.origin != "local dev stack":
        pytest.skip(f"`hl7bus run` runs the local dev stack; the broker here is from {bus.origin}")
    from hl7bus.settings import DevStackSettings

    dev = DevStackSettings()
    seed = 40_000 + int(time.time()) % 10_000
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hl7bus.cli",
            "run",
            "--rate",
            "20",
            "--seed",
            str(seed),
            "--no-demo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = Lines(run)
    try:
        out.until(re.escape(f"The operators' dashboard: {dev.web_url}/"), 90)
        token = out.until(r"^  (\S+\.\S+)$", 5).group(1)
        request = urllib.request.Request(
            f"{dev.web_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read())["role"] == "operator"
        out.until(rf"A simulated hospital \(seed {seed}\) sends about 20 messages/s", 5)

        # The messages flow: a line with messages answered and events made.
        deadline = time.monotonic() + 60
        while True:
            line = out.until(FOLLOWED, 30)
            if int(line.group(1)) > 0 and int(line.group(2)) > 0:
                break
            assert time.monotonic() < deadline, "\n".join(out.seen)
        assert _simulators(seed), "the simulator does not run"

        second = _hl7bus("run", "--no-demo", timeout=60)
        assert second.returncode == 1
        assert "already running" in second.stderr and f"process {run.pid}" in second.stderr
        assert "Traceback" not in second.stderr

        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0, run.stderr.read() if run.stderr else ""
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    time.sleep(0.5)  # the reader thread takes the last lines
    while not out.lines.empty():
        out.seen.append(out.lines.get())
    assert "Stopping." in out.seen, "\n".join(out.seen)
    assert not _simulators(seed)
    assert "Traceback" not in (run.stderr.read() if run.stderr else "")
    # It started nothing of the stack the tests run on, so it stopped nothing of it.
    assert _hl7bus("dev", "status", timeout=30).returncode == 0
