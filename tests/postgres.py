"""A real PostgreSQL server for the tests of the timeline store.

``HL7BUS_TEST_POSTGRES`` (a ``postgresql://`` URL) names a server to use as it is.  Else
Debian's PostgreSQL (``/usr/lib/postgresql/15/bin``, or another version there) is started
here: a fresh cluster in a temporary folder, on a free loopback port, run by an unprivileged
user (``postgres`` when the tests run as root: PostgreSQL refuses to run as root), and
removed at the end.  No PostgreSQL is a failure that says what to install, never a skip.

The throwaway cluster trades durability for speed (``fsync=off``): the tests kill the
timeline service, never the database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ENV = "HL7BUS_TEST_POSTGRES"
USER = "hl7bus"
NOT_INSTALLED = (
    "PostgreSQL is not installed: the timeline store's tests need a real server. Install "
    "Debian's PostgreSQL 15 (`apt-get install postgresql`, which .ci/run does), or set "
    f"{ENV} to the URL of a server to use (postgresql://user@host:port/database)."
)


def binaries() -> Path | None:
    """The folder of Debian's PostgreSQL programs (version 15 when there, else the newest)."""
    preferred = Path("/usr/lib/postgresql/15/bin")
    if (preferred / "initdb").exists():
        return preferred
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """A throwaway PostgreSQL cluster run as an unprivileged user."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="hl7bus-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            # initdb and postgres refuse root: run them as the postgres system user.
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                f"{log}"
            )

    def start(self) -> str:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait()
        return self.url

    def _wait(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test run (see the module's docstring);
    raises RuntimeError with :data:`NOT_INSTALLED` when there is none."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError(NOT_INSTALLED)
    server = LocalPostgres(bin_dir)
    try:
        yield server.start()
    finally:
        server.stop()


def drop_schema(url: str, schema: str) -> None:
    """Remove one test's schema (and what it holds)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
