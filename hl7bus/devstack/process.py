"""A Java server process run in the background, tracked by a pid file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ManagedProcess:
    """One background server: its role tag, pid file and log file."""

    role: str
    pid_file: Path
    log_file: Path
    marker: str | None = None

    @property
    def tag(self) -> str:
        """What marks the process as ours in the process table: a JVM system property, or
        the ``marker`` argument given for a non-Java process."""
        return self.marker or f"-Dhl7bus.dev.role={self.role}"

    def start(self, cmd: list[str], *, env: dict[str, str], cwd: Path, info: dict) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "started": time.time(), **info}))
        return proc.pid

    def info(self) -> dict | None:
        try:
            return json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """The pid of the running process, or None (a stale pid file is removed)."""
        info = self.info()
        if not info:
            return None
        pid = int(info["pid"])
        if _is_ours(pid, self.tag):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def exited(self) -> bool:
        """True once a process we started is gone (it failed to start, or was stopped)."""
        info = self.info()
        return info is None or not _is_ours(int(info["pid"]), self.tag)

    def log_tail(self, lines: int = 5) -> str:
        info = self.info() or {}
        code = EXIT_STATUS.get(int(info.get("pid", -1)))
        status = f"exit status {code}; " if code is not None else ""
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return status + "no log"
        if not text:
            return status + "its log is empty"
        interesting = [line for line in text if "ERROR" in line or "Exception" in line]
        return status + " | ".join((interesting or text)[-lines:])[:600]

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM, wait for a clean exit, SIGKILL after ``timeout_s``.  True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _is_ours(pid, self.tag):
            time.sleep(0.1)
        if _is_ours(pid, self.tag):
            _signal(pid, signal.SIGKILL)
            while _is_ours(pid, self.tag):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


EXIT_STATUS: dict[int, int] = {}
"""Exit codes of the processes this process started and saw end."""


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _is_ours(pid: int, tag: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state == "Z":  # exited, waiting for its parent to reap it
        try:
            _, status = os.waitpid(pid, os.WNOHANG)
            EXIT_STATUS[pid] = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass
        return False
    # The command line reads empty for a moment while the process is still exec'ing.
    return not cmdline or tag.encode() in cmdline
