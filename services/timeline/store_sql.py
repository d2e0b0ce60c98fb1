"""The timeline store's two databases: embedded SQLite (one file, WAL) and PostgreSQL
(psycopg 3, one schema).  What differs between them is here: how to connect, the few SQL
spellings that differ, the schema and its migrations, and how a rebuilt store takes the
place of the old one.  :mod:`.store` holds what the two share.

URLs:

- ``sqlite:///~/.hl7bus/timeline.db`` (``~`` is the home folder; ``sqlite:////abs/path``
  and ``sqlite:///relative/path`` as usual);
- ``postgresql://user:password@host:5432/database?schema=timeline`` (any libpq URL or
  parameter; ``schema``, default ``timeline``, is the schema the store keeps its tables
  in).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hl7bus.errors import Hl7BusError

DEFAULT_URL: Final = "sqlite:///~/.hl7bus/timeline.db"
DEFAULT_SCHEMA: Final = "timeline"


class StoreFailure(Hl7BusError):
    """The store's database failed an operation: nothing of it was stored."""


class StoreUnavailable(StoreFailure):
    """The store's database cannot be reached or used now (a retry may succeed)."""


class StoreUrlError(Hl7BusError):
    """A store URL hl7bus cannot use."""


# The schema: each migration a list of statements, in order; ``{...}`` are the spellings
# that differ (see Backend.words).

MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (
        1,
        (
            # One row per entry of every timeline: an event or a change of an alert.
            """CREATE TABLE entries (
                event_id TEXT PRIMARY KEY,
                seq {bigint} NOT NULL UNIQUE,
                patient_key TEXT NOT NULL,
                occurred {bigint} NOT NULL,
                recorded {bigint} NOT NULL,
                event_type TEXT NOT NULL,
                occurred_at TEXT,
                recorded_at TEXT,
                line TEXT NOT NULL,
                codes TEXT NOT NULL,
                record TEXT NOT NULL
            )""",
            "CREATE INDEX entries_by_patient ON entries "
            "(patient_key, occurred, recorded, event_id, event_type)",
            # The current state of each patient, by surviving key.
            """CREATE TABLE summaries (
                patient_key TEXT PRIMARY KEY,
                family TEXT {text_order},
                given TEXT {text_order},
                seq {bigint} NOT NULL,
                summary TEXT NOT NULL
            )""",
            "CREATE INDEX summaries_by_name ON summaries (family, given)",
            # Identity: merges (the key merged away -> the key it was merged into), links
            # (both directions) and every identifier that names a record.
            """CREATE TABLE merges (
                prior TEXT PRIMARY KEY,
                survivor TEXT NOT NULL,
                seq {bigint} NOT NULL
            )""",
            "CREATE INDEX merges_by_survivor ON merges (survivor)",
            """CREATE TABLE links (
                patient_key TEXT NOT NULL,
                other TEXT NOT NULL,
                PRIMARY KEY (patient_key, other)
            )""",
            """CREATE TABLE identifiers (
                value TEXT NOT NULL,
                authority TEXT NOT NULL,
                patient_key TEXT NOT NULL,
                PRIMARY KEY (value, authority, patient_key)
            )""",
            # The next Kafka offset to read, written with the state it produced.
            """CREATE TABLE offsets (
                group_id TEXT NOT NULL,
                topic TEXT NOT NULL,
                partition_id INTEGER NOT NULL,
                next_offset {bigint} NOT NULL,
                PRIMARY KEY (group_id, topic, partition_id)
            )""",
            # Who wrote last (a writer trusts what it remembers only when it was itself),
            # and the next entry's sequence number.
            """CREATE TABLE store_state (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                writer TEXT NOT NULL,
                generation {bigint} NOT NULL,
                next_seq {bigint} NOT NULL
            )""",
            "INSERT INTO store_state (id, writer, generation, next_seq) VALUES (1, '', 0, ?)",
        ),
    ),
    (
        2,
        (
            # The changes of alerts of every patient, for the list of alerts: a partial
            # index, which the entries of events do not enter.  A query uses it when it
            # names the same three types (store.ALERT_TYPES_SQL).
            "CREATE INDEX entries_alerts ON entries (seq) WHERE event_type IN "
            "('ALERT_RAISED', 'ALERT_ACKNOWLEDGED', 'ALERT_RESOLVED')",
        ),
    ),
)


class Backend:
    """One database: connections, its spellings of SQL, its schema."""

    name: str
    url: str  # as given, without a password: safe to log
    words: dict[str, str]

    def connect(self) -> Any:
        raise NotImplementedError

    def sql(self, text: str) -> str:
        """``text`` (``?`` parameters) in this database's parameter style."""
        return text

    def in_list(self, column: str) -> str:
        """``column IN`` a list given as one parameter (see :meth:`list_param`)."""
        raise NotImplementedError

    def contains(self, column: str) -> str:
        """``column`` holds the text given as a parameter."""
        raise NotImplementedError

    def insert_many(self, conn: Any, table: str, columns: Sequence[str], rows: list) -> None:
        """Insert ``rows`` (that are new) into ``table``, the quickest way there is."""
        raise NotImplementedError

    def list_param(self, values: Sequence[str]) -> Any:
        raise NotImplementedError

    def begin_write(self, conn: Any) -> None:
        """Start a write transaction; it holds the store's write lock until it ends."""
        raise NotImplementedError

    def begin_read(self, conn: Any) -> None:
        raise NotImplementedError

    def commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")

    def is_unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the database cannot be reached or used now."""
        raise NotImplementedError

    def is_database_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the database driver's (not the data's)."""
        raise NotImplementedError

    def stale(self, conn: Any) -> bool:
        """Whether ``conn`` reads a store that another has replaced (open a new one)."""
        return False

    def migrate(self, conn: Any, first_seq: int = 1) -> None:
        raise NotImplementedError

    def exists(self) -> bool:
        """Whether the store has been created."""
        raise NotImplementedError

    # Rebuild: a fresh store beside this one, and the switch.

    def fresh(self) -> Backend:
        """A new, empty store beside this one (what a rebuild fills)."""
        raise NotImplementedError

    def take_place_of(self, old: Backend) -> None:
        """Make this (rebuilt) store the one ``old``'s URL names, atomically; readers and
        writers of the old one move over when they next open a connection."""
        raise NotImplementedError

    def discard(self) -> None:
        """Remove this store (a rebuild that did not finish)."""
        raise NotImplementedError


def _statements(words: dict[str, str]) -> Iterator[tuple[int, str]]:
    for version, statements in MIGRATIONS:
        for statement in statements:
            yield version, statement.format(**words)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# SQLite.


class SqliteBackend(Backend):
    """One SQLite file in WAL mode.  The path may be a symbolic link (a rebuild makes it
    one): SQLite follows it, so each generation of the store has its own ``-wal`` and
    ``-shm`` files, and replacing the link never hands a reader the old file's journal."""

    name = "sqlite"

    def __init__(self, path: Path, url: str | None = None) -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self.words = {"bigint": "INTEGER", "text_order": ""}

    def connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=30,
                factory=_SqliteConnection,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # A crash (even of the machine) loses at most the last commits, never the
            # database; offsets are in the same commits as the state, so those are read
            # again from Kafka.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=MEMORY")
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open the timeline store {self.url}: {exc}") from exc
        conn.inode = _inode(self.path)
        return conn

    def in_list(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def list_param(self, values: Sequence[str]) -> Any:
        import json

        return json.dumps(list(values))

    def contains(self, column: str) -> str:
        return f"instr({column}, ?) > 0"

    def insert_many(self, conn: Any, table: str, columns: Sequence[str], rows: list) -> None:
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def begin_write(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def begin_read(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")

    def is_unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError | OSError)

    def is_database_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def stale(self, conn: sqlite3.Connection) -> bool:
        return _inode(self.path) != getattr(conn, "inode", None)

    def exists(self) -> bool:
        return self.path.exists()

    def migrate(self, conn: sqlite3.Connection, first_seq: int = 1) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _apply_migrations(conn, self, first_seq)
            conn.execute("COMMIT")
        except BaseException:
            self.rollback(conn)
            raise

    def fresh(self) -> SqliteBackend:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = self.path.resolve() if self.path.exists() else self.path
        return SqliteBackend(target.with_name(f"{self.path.name}.{stamp}"))

    def take_place_of(self, old: Backend) -> None:
        assert isinstance(old, SqliteBackend)
        previous = old.path.resolve() if old.path.is_symlink() else None
        link = old.path.with_name(f".{old.path.name}.switch")
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(self.path.name if self.path.parent == old.path.parent else self.path)
        os.replace(link, old.path)  # atomic: every new connection opens the rebuilt file
        if previous is not None and previous != self.path:
            # Processes that still have it open keep reading it until they notice.
            with contextlib.suppress(FileNotFoundError):
                previous.unlink()

    def discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()


class _SqliteConnection(sqlite3.Connection):
    inode: tuple[int, int] | None = None  # the file it opened (see SqliteBackend.stale)


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _apply_migrations(conn: Any, backend: Backend, first_seq: int) -> None:
    """Inside the caller's transaction: the migrations not applied yet, each recorded in the
    ``migrations`` table (made here the first time)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations "
        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = conn.execute("SELECT coalesce(max(version), 0) FROM migrations").fetchone()[0]
    applied = set()
    for version, statement in _statements(backend.words):
        if version <= done:
            continue
        if "?" in statement:
            conn.execute(backend.sql(statement), (first_seq,))
        else:
            conn.execute(statement)
        applied.add(version)
    for version in sorted(applied):
        conn.execute(
            backend.sql("INSERT INTO migrations (version, applied_at) VALUES (?, ?)"),
            (version, _now()),
        )


# PostgreSQL.

_LOCK_ID: Final = 0x686C3762  # "hl7b": the store's write lock, per schema (see begin_write)


class PostgresBackend(Backend):
    """One schema of a PostgreSQL database.  Writers take a transaction-scoped advisory
    lock, so batches are applied one at a time (several service instances may share the
    store) and entry sequence numbers are handed out in commit order."""

    name = "postgresql"

    def __init__(self, conninfo: str, schema: str, url: str) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.url = url
        self.words = {"bigint": "BIGINT", "text_order": 'COLLATE "C"'}
        self._lock_key = _lock_key(schema)

    def connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
            conn.execute(f"SET search_path TO {_ident(self.schema)}")
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to the timeline store {self.url}: {first_line(exc)}"
            ) from exc
        return conn

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def in_list(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def list_param(self, values: Sequence[str]) -> Any:
        return list(values)

    def contains(self, column: str) -> str:
        return f"strpos({column}, ?) > 0"

    def insert_many(self, conn: Any, table: str, columns: Sequence[str], rows: list) -> None:
        with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def begin_write(self, conn: Any) -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_ID, self._lock_key))

    def begin_read(self, conn: Any) -> None:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def is_unavailable(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) or (
            isinstance(exc, psycopg.Error) and getattr(exc, "sqlstate", None) in _RETRYABLE
        )

    def is_database_error(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.Error)

    def exists(self) -> bool:
        with contextlib.closing(self._admin()) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            ).fetchone()
        return found is not None

    def _admin(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to the timeline store {self.url}: {first_line(exc)}"
            ) from exc

    def migrate(self, conn: Any, first_seq: int = 1) -> None:
        conn.execute("BEGIN")
        try:
            # Two instances starting at once: one creates, the other waits and finds it done.
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_ID, self._lock_key))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema)}")
            _apply_migrations(conn, self, first_seq)
            conn.execute("COMMIT")
        except BaseException:
            self.rollback(conn)
            raise

    def fresh(self) -> PostgresBackend:
        return PostgresBackend(self.conninfo, f"{self.schema}_rebuild", self.url)

    def take_place_of(self, old: Backend) -> None:
        assert isinstance(old, PostgresBackend)
        retired = f"{old.schema}_retired"
        with contextlib.closing(self._admin()) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {_ident(retired)} CASCADE")
            with conn.transaction():
                # Both renames in one transaction: a reader sees the old store or the new.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_ID, _lock_key(old.schema))
                )
                if old.exists():
                    conn.execute(f"ALTER SCHEMA {_ident(old.schema)} RENAME TO {_ident(retired)}")
                conn.execute(f"ALTER SCHEMA {_ident(self.schema)} RENAME TO {_ident(old.schema)}")
            conn.execute(f"DROP SCHEMA IF EXISTS {_ident(retired)} CASCADE")
        self.schema = old.schema
        self._lock_key = _lock_key(old.schema)

    def discard(self) -> None:
        with contextlib.closing(self._admin()) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {_ident(self.schema)} CASCADE")


# Serialization failures and deadlocks: the transaction is tried again.
_RETRYABLE: Final = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "08006", "08003"})


def _lock_key(schema: str) -> int:
    import zlib

    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def first_line(exc: BaseException) -> str:
    """The first line of a database error: its message, without the detail lines that may
    quote the row's values."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# URLs.


def backend_for(url: str) -> Backend:
    """The database a store URL names."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        if not url.startswith("sqlite:///"):
            raise StoreUrlError(
                f"a SQLite store URL is sqlite:///PATH (e.g. {DEFAULT_URL}), not {url!r}"
            )
        path = url[len("sqlite:///") :]
        if not path:
            raise StoreUrlError(f"the SQLite store URL {url!r} names no file")
        return SqliteBackend(Path(os.path.expanduser(path)), url)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((v for k, v in query if k == "schema"), DEFAULT_SCHEMA)
        if not schema:
            raise StoreUrlError("the PostgreSQL store URL's schema parameter is empty")
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        shown = parts._replace(
            netloc=_without_password(parts.netloc),
            query=_PASSWORD_PARAMETER.sub(r"\1***", parts.query),
        )
        return PostgresBackend(conninfo, schema, urlunsplit(shown))
    raise StoreUrlError(
        f"the timeline store URL must start with sqlite:/// or postgresql://, not {url!r}"
    )


_PASSWORD_PARAMETER: Final = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)


def _without_password(netloc: str) -> str:
    if "@" not in netloc:
        return netloc
    user, host = netloc.rsplit("@", 1)
    return f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else netloc


class _Held:
    """A thread's connection.  When the thread ends, Python drops its thread-local values,
    and the connection goes back to the free ones for the next thread (the web front door
    answers from a pool of worker threads that come and go)."""

    __slots__ = ("conn", "owner")

    def __init__(self, conn: Any, owner: Connections) -> None:
        self.conn = conn
        self.owner = owner

    def __del__(self) -> None:
        if self.conn is not None and self.conn in self.owner._all:  # not closed since
            self.owner._free.append(self.conn)


class Connections:
    """One connection per thread at a time (SQLite's and psycopg's connections are not used
    by two threads at once), opened on first use, again when the store was replaced, and
    handed on to another thread when its thread ends: never one per thread that ever ran,
    and no new connection (tens of milliseconds to PostgreSQL) for each new thread."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._local = threading.local()
        self._all: list[Any] = []
        self._free: list[Any] = []
        self._lock = threading.Lock()

    @property
    def opened(self) -> int:
        """Connections open now."""
        return len(self._all)

    def get(self) -> Any:
        held: _Held | None = getattr(self._local, "held", None)
        conn = held.conn if held is not None else None
        if conn is not None and self.backend.stale(conn):
            self.drop()
            conn = None
        if conn is None:
            conn = self._reuse()
            if conn is None:
                conn = self.backend.connect()
                with self._lock:
                    self._all.append(conn)
            self._local.held = _Held(conn, self)
        return conn

    def _reuse(self) -> Any:
        """A connection an ended thread left, unless the store was replaced since."""
        while True:
            try:
                conn = self._free.pop()
            except IndexError:
                return None
            if not self.backend.stale(conn):
                return conn
            self._forget(conn)

    def drop(self) -> None:
        """Close this thread's connection (after an error, or a replaced store)."""
        held: _Held | None = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held.conn is not None:
            conn, held.conn = held.conn, None
            self._forget(conn)

    def _forget(self, conn: Any) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        self._free.clear()
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()
