"""The timeline store: every patient's entries in clinical order, who is who, each
patient's current state, and the consumer offsets that produced them — in SQLite (the
default) or PostgreSQL (:mod:`.store_sql` has the URLs).

Open one with :func:`open_store` (it creates or upgrades the schema).  A store is safe to
use from several threads (each reads over a connection of its own); one batch is written
at a time, also by several processes sharing a store.

Reading (what the web API serves)
---------------------------------

``find_patients(identifier=None, authority=None, family=None, given=None, limit=50)``
    ``[(patient_key, PatientSummary), ...]``: the patients an identifier names (any
    identifier any system sent for them, of ``authority`` when given), or whose family
    (and given) name starts with the words given, case-insensitively; surviving keys only.
    Raises :class:`QueryError` when given nothing to search by.
``summary(key)``
    ``(patient_key, PatientSummary)`` or ``None`` for a key never seen.  A merged-away key
    answers with its survivor's key and summary (compare the key to tell).
``timeline(key, *, types=None, since=None, until=None, code=None, limit=100, cursor=None)``
    ``([TimelineEntry, ...], next_cursor)``: the entries of the patient (every key merged
    into its survivor) and of the patients linked with it (each such entry's ``linked``
    names the linked patient's key), in clinical order; ``types`` event types (or
    ``ALERT_RAISED``…), ``since``/``until`` ISO 8601 times (inclusive; a partial time is
    the start of its period), ``code`` an observation, order, medication, allergy,
    diagnosis or problem code.  ``next_cursor`` is None on the last page; a cursor is the clinical
    order of the last entry shown, so the next page starts after it whatever arrived
    meanwhile.  A bad cursor raises :class:`InvalidCursor`, a bad time or limit
    :class:`QueryError` (both ``ValueError``: answer 400).  An unknown key has no entries.
``events(key)``
    ``([ClinicalEvent, ...], [alert record, ...])``: the patient's events (merged records
    included) and its alert records, in clinical order: what ``fhir.bundle`` takes.
``stream_since(sequence, patient_key=None, limit=500)``
    ``[(sequence, TimelineEntry), ...]``: entries stored after ``sequence``, in the order
    they were stored (of one patient and the patients linked with it, when given).
    Sequence numbers only grow; ``latest_sequence()`` is the last one stored.
``alert(alert_id)``
    The latest state of one alert (a ``ClinicalAlert``: the furthest its records reached,
    see :mod:`hl7bus.events.alert_lifecycle`), or ``None`` for an id never stored.
``alerts(status=StatusFilter.OPEN, patient_key=None, rule=None, limit=100)``
    ``[ClinicalAlert, ...]``: the alerts in their latest state, newest raised first; only
    those ``status`` admits (``open``: raised or acknowledged), of the patient of
    ``patient_key`` (every key merged into its survivor) and of ``rule`` when given.
``resolve(key)``
    The surviving key of ``key``.
``survivor(key)``
    The surviving key of ``key``, or ``None`` for a key never seen.
``ping()``
    Raises :class:`StoreUnavailable` when the database does not answer.

Every call raises :class:`StoreUnavailable` when the database cannot be reached (answer
503; the next call opens a new connection) and :class:`StoreFailure` when it failed
otherwise.

Writing (the consumer)
----------------------

``apply_batch(entries, offsets, expected=None)`` stores one poll's entries and the
offsets after them in one transaction: new entries are inserted (an event id already
stored changes nothing), identity is updated (merges, links, identifiers), the summaries
of the patients touched are brought up to date (``summary.apply`` while entries come in
clinical order, else the patient's entries folded again) and written once each, and the
offsets ``{(group, topic, partition): next_offset}`` are stored.  With ``expected``
(``{(group, topic, partition): offset or None}``: what the caller read from the store
last), a store whose offsets moved meanwhile (another consumer, a rebuild that took its
place) raises :class:`OffsetsMoved` and nothing is written.  ``read_offsets(group, topic)``
gives ``{partition: next_offset}``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from hl7bus.errors import Hl7BusError
from hl7bus.events.alert_lifecycle import StatusFilter, latest
from hl7bus.events.alerts import AlertStatus, ClinicalAlert, alert_from_record
from hl7bus.events.model import ClinicalEvent
from hl7bus.events.records import from_record
from hl7bus.services.timeline import identity as idn
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.codec import FragmentMemo, summary_from_json, summary_to_json
from hl7bus.services.timeline.entries import ALERT_TYPES, Entry, alert_event_id
from hl7bus.services.timeline.order import OrderKey, instant
from hl7bus.services.timeline.parts import constructor
from hl7bus.services.timeline.persistent import PMap
from hl7bus.services.timeline.store_sql import (
    DEFAULT_URL,
    Backend,
    Connections,
    StoreFailure,
    StoreUnavailable,
    StoreUrlError,
    backend_for,
    first_line,
)
from hl7bus.services.timeline.stored import StoredRecord

__all__ = [
    "DEFAULT_URL",
    "Applied",
    "InvalidCursor",
    "OffsetsMoved",
    "QueryError",
    "Store",
    "StoreFailure",
    "StoreUnavailable",
    "StoreUrlError",
    "TimelineEntry",
    "open_store",
]

log = logging.getLogger("hl7bus.timeline.store")

MAX_LIMIT: Final = 1000
KEPT: Final = 4
"""Summaries kept in memory without the fold's memory, per one kept with it."""
Offsets = Mapping[tuple[str, str, int], int]


class QueryError(Hl7BusError, ValueError):
    """A read the store cannot answer as asked (a bad time, limit or cursor)."""


class InvalidCursor(QueryError):
    """A cursor that this store did not hand out."""


class OffsetsMoved(Hl7BusError):
    """The store's offsets are not those the writer expected: someone else wrote them (a
    rebuilt store took this one's place, or another consumer had the partitions).  Read
    the offsets again and go on from there."""


@dataclass(frozen=True, slots=True)
class TimelineEntry(Entry):
    """An entry as the timeline shows it: ``linked`` is the key of the linked patient it
    belongs to, or None for the patient's own entries."""

    linked: str | None = None


@dataclass(slots=True)
class Applied:
    """What one batch did."""

    stored: int = 0  # new entries
    alerts: int = 0  # of which changes of alerts
    repeated: int = 0  # entries whose event id was stored already
    decisions: list[idn.Decision] = field(default_factory=list)  # merges, links, refusals
    refolded: int = 0  # patients whose entries were folded again
    last_sequence: int = 0


def open_store(url: str = DEFAULT_URL, *, summary_cache: int = 2_000) -> Store:
    """The store at ``url``, created (or upgraded) if need be."""
    store = Store(backend_for(url), summary_cache=summary_cache)
    store.migrate()
    return store


_ENTRY_COLUMNS: Final = (
    "event_id",
    "seq",
    "patient_key",
    "occurred",
    "recorded",
    "event_type",
    "occurred_at",
    "recorded_at",
    "line",
    "codes",
    "record",
)
_READ_COLUMNS: Final = (
    "event_id, patient_key, occurred, recorded, event_type, occurred_at, recorded_at, line, record"
)
_CODE_MARK: Final = "\x1f"  # between the codes of one entry
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = orjson.loads


def _record_text(record: Mapping[str, Any]) -> str:
    """An entry's record as JSON text (compact, UTF-8 as it is)."""
    return orjson.dumps(record, default=dict).decode()


_new_entry = constructor(TimelineEntry)


class Store:
    """See the module's docstring."""

    def __init__(self, backend: Backend, *, summary_cache: int = 2_000) -> None:
        self.backend = backend
        self._conns = Connections(backend)
        self._sql: dict[str, str] = {}
        self._write_lock = threading.Lock()
        # The writer's memory, trusted only while this store was the last to write.
        self._writer = uuid.uuid4().hex
        self._generation: int | None = None
        self._identity = idn.Identity()
        # The summaries of the patients written last, with the fold's memory (so that a
        # late entry goes in without folding the patient again), and of KEPT times as many
        # before them, without it (as read back from the store, but not read again).
        self._summaries: OrderedDict[str, sm.PatientSummary] = OrderedDict()
        self._cache_limit = summary_cache
        self._kept: OrderedDict[str, sm.PatientSummary] = OrderedDict()
        # The text of the parts of each summary last written (of the patients in memory,
        # and of those written by a batch that failed until the next batch forgets them).
        self._memos: dict[str, FragmentMemo] = {}

    @property
    def url(self) -> str:
        return self.backend.url

    def migrate(self, first_sequence: int = 1) -> None:
        """Create the schema, or bring it to the current version."""
        with self._errors():
            self.backend.migrate(self._conns.get(), first_sequence)

    def close(self) -> None:
        self._conns.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # SQL plumbing.

    def q(self, text: str) -> str:
        found = self._sql.get(text)
        if found is None:
            found = self._sql[text] = self.backend.sql(text)
        return found

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """A database that cannot be reached is :class:`StoreUnavailable`; the thread's
        connection is opened afresh next time."""
        try:
            yield
        except StoreFailure:
            self._conns.drop()
            raise
        except Exception as exc:
            if self.backend.is_unavailable(exc):
                self._conns.drop()
                raise StoreUnavailable(
                    f"the timeline store {self.url} failed: {first_line(exc)}"
                ) from exc
            if self.backend.is_database_error(exc):
                self._conns.drop()
                raise StoreFailure(
                    f"the timeline store {self.url} failed: {first_line(exc)}"
                ) from exc
            raise

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        """A read-only transaction: the queries inside see one state of the store."""
        with self._errors():
            conn = self._conns.get()
            self.backend.begin_read(conn)
            try:
                yield conn
            finally:
                self.backend.rollback(conn)

    def ping(self) -> None:
        with self._errors():
            self._conns.get().execute("SELECT 1").fetchone()

    # Writing.

    def read_offsets(self, group: str, topic: str) -> dict[int, int]:
        """``{partition: next offset}`` stored for ``group`` on ``topic``."""
        with self._reading() as conn:
            return self._offsets(conn, group, topic)

    def _offsets(self, conn: Any, group: str, topic: str) -> dict[int, int]:
        rows = conn.execute(
            self.q(
                "SELECT partition_id, next_offset FROM offsets WHERE group_id = ? AND topic = ?"
            ),
            (group, topic),
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def apply_batch(
        self,
        entries: Sequence[Entry],
        offsets: Offsets,
        expected: Mapping[tuple[str, str, int], int | None] | None = None,
    ) -> Applied:
        """Store one batch and the offsets after it, in one transaction (see the module's
        docstring)."""
        with self._write_lock, self._errors():
            conn = self._conns.get()
            backend = self.backend
            try:
                backend.begin_write(conn)
                batch = _Batch(self, conn)
                applied = batch.run(entries, offsets, expected)
                backend.commit(conn)
            except BaseException:
                backend.rollback(conn)
                self._generation = None  # what it remembers may not be what is stored
                raise
            self._adopt(batch)
            return applied

    def _adopt(self, batch: _Batch) -> None:
        """The batch is committed: remember what it left."""
        self._generation = batch.generation
        identity = batch.identity
        # Identifiers are looked up in the store; only merges and links stay in memory.
        self._identity = idn.Identity(identity.merged_into, identity.merged_from, identity.links)
        cache, kept, memos = self._summaries, self._kept, self._memos
        for key in batch.gone:
            cache.pop(key, None)
            kept.pop(key, None)
            memos.pop(key, None)
        for key, summary in batch.summaries.items():
            kept.pop(key, None)
            cache[key] = summary
            cache.move_to_end(key)
        while len(cache) > self._cache_limit:
            key, summary = cache.popitem(last=False)
            kept[key] = sm.forget(summary)
        while len(kept) > self._cache_limit * KEPT:
            memos.pop(kept.popitem(last=False)[0], None)

    def _load_identity(self, conn: Any) -> idn.Identity:
        merged_into: PMap[str, str] = PMap()
        merged_from: dict[str, set[str]] = {}
        for prior, survivor in conn.execute("SELECT prior, survivor FROM merges ORDER BY seq"):
            merged_into = merged_into.set(prior, survivor)
            merged_from.setdefault(survivor, set()).add(prior)
        from_map: PMap[str, frozenset[str]] = PMap()
        for key, priors in merged_from.items():
            from_map = from_map.set(key, frozenset(priors))
        links: dict[str, set[str]] = {}
        for key, other in conn.execute("SELECT patient_key, other FROM links"):
            links.setdefault(key, set()).add(other)
        link_map: PMap[str, frozenset[str]] = PMap()
        for key, others in links.items():
            link_map = link_map.set(key, frozenset(others))
        return idn.Identity(merged_into, from_map, link_map)

    def _stored_summary(
        self, conn: Any, key: str, texts: Mapping[str, str] | None = None
    ) -> sm.PatientSummary:
        """``key``'s summary: in memory, else read back from ``texts`` (the stored text of
        summaries, read beforehand) or the store."""
        cached = self._summaries.get(key) or self._kept.get(key)
        if cached is not None:
            return cached
        text = texts.get(key) if texts is not None else None
        if text is None:
            row = conn.execute(
                self.q("SELECT summary FROM summaries WHERE patient_key = ?"), (key,)
            ).fetchone()
            if row is None:
                return _EMPTY
            text = row[0]
        return summary_from_json(text, self._memos.setdefault(key, FragmentMemo()))

    def _stored_texts(self, conn: Any, keys: Iterable[str]) -> dict[str, str]:
        """The stored text of the summaries of ``keys`` not in memory, in one query."""
        wanted = sorted({k for k in keys if k not in self._summaries and k not in self._kept})
        if not wanted:
            return {}
        rows = conn.execute(
            self.q(
                "SELECT patient_key, summary FROM summaries "
                f"WHERE {self.backend.in_list('patient_key')}"
            ),
            (self.backend.list_param(wanted),),
        ).fetchall()
        return dict(rows)

    def _entries_of(self, conn: Any, keys: Sequence[str]) -> list[TimelineEntry]:
        if len(keys) == 1:
            where, params = "patient_key = ?", (keys[0],)
        else:
            where, params = self.backend.in_list("patient_key"), (self.backend.list_param(keys),)
        rows = conn.execute(
            self.q(
                f"SELECT {_READ_COLUMNS} FROM entries WHERE {where} "
                "ORDER BY occurred, recorded, event_id"
            ),
            params,
        ).fetchall()
        return [_entry(row) for row in rows]

    # Reading.

    def resolve(self, key: str) -> str:
        """The surviving key of ``key`` (``key`` itself unless merged away)."""
        with self._reading() as conn:
            return self._resolve(conn, key)

    def survivor(self, key: str) -> str | None:
        """The surviving key of ``key``, or None for a key never seen (as :meth:`summary`
        tells, without reading the summary)."""
        with self._reading() as conn:
            survivor = self._resolve(conn, key)
            row = conn.execute(
                self.q("SELECT 1 FROM summaries WHERE patient_key = ?"), (survivor,)
            ).fetchone()
        return survivor if row else None

    def _resolve(self, conn: Any, key: str) -> str:
        rows = conn.execute(
            self.q(
                "WITH RECURSIVE up(k, depth) AS ("
                " SELECT CAST(? AS TEXT), 0"
                " UNION ALL SELECT m.survivor, up.depth + 1 FROM merges m JOIN up ON m.prior = up.k"
                " WHERE up.depth < 1000)"
                " SELECT k FROM up ORDER BY depth DESC LIMIT 1"
            ),
            (key,),
        ).fetchone()
        return rows[0]

    def _group(self, conn: Any, survivor: str) -> list[str]:
        rows = conn.execute(
            self.q(
                "WITH RECURSIVE down(k) AS ("
                " SELECT CAST(? AS TEXT)"
                " UNION SELECT m.prior FROM merges m JOIN down ON m.survivor = down.k)"
                " SELECT k FROM down"
            ),
            (survivor,),
        ).fetchall()
        return sorted(r[0] for r in rows)

    def _linked(self, conn: Any, survivor: str, members: list[str]) -> dict[str, list[str]]:
        """The patients shown with ``survivor``'s (followed from link to link): their
        surviving key -> their keys."""
        found: dict[str, list[str]] = {}
        seen, todo = {survivor}, [members]
        while todo:
            keys = todo.pop()
            rows = conn.execute(
                self.q(f"SELECT other FROM links WHERE {self.backend.in_list('patient_key')}"),
                (self.backend.list_param(keys),),
            ).fetchall()
            for (other,) in rows:
                other_survivor = self._resolve(conn, other)
                if other_survivor not in seen:
                    seen.add(other_survivor)
                    group = self._group(conn, other_survivor)
                    found[other_survivor] = group
                    todo.append(group)
        return dict(sorted(found.items()))

    def _owners(self, conn: Any, key: str) -> dict[str, str | None]:
        """Every key whose entries ``key``'s timeline shows: the keys of its patient (None)
        and of the patients linked with it (the linked patient's surviving key)."""
        survivor = self._resolve(conn, key)
        members = self._group(conn, survivor)
        owner: dict[str, str | None] = dict.fromkeys(members)
        for linked, keys in self._linked(conn, survivor, members).items():
            for k in keys:
                owner.setdefault(k, linked)
        return owner

    def summary(self, key: str) -> tuple[str, sm.PatientSummary] | None:
        with self._reading() as conn:
            survivor = self._resolve(conn, key)
            row = conn.execute(
                self.q("SELECT summary FROM summaries WHERE patient_key = ?"), (survivor,)
            ).fetchone()
        return (survivor, summary_from_json(row[0])) if row else None

    def find_patients(
        self,
        identifier: str | None = None,
        authority: str | None = None,
        family: str | None = None,
        given: str | None = None,
        limit: int = 50,
    ) -> list[tuple[str, sm.PatientSummary]]:
        _check_limit(limit)
        if not identifier and not family and not given:
            raise QueryError("search patients by an identifier or a name")
        params: list[Any] = []
        where = []
        with self._reading() as conn:
            if identifier:
                sql = "SELECT DISTINCT patient_key FROM identifiers WHERE value = ?"
                args: tuple = (identifier,)
                if authority is not None:
                    sql += " AND authority = ?"
                    args += (authority,)
                keys = [r[0] for r in conn.execute(self.q(sql), args).fetchall()]
                survivors = sorted({self._resolve(conn, k) for k in keys})
                if not survivors:
                    return []
                where.append(self.backend.in_list("patient_key"))
                params.append(self.backend.list_param(survivors))
            for column, prefix in (("family", family), ("given", given)):
                if prefix:
                    folded = " ".join(prefix.split()).casefold()
                    where.append(f"{column} >= ? AND {column} < ?")
                    params += [folded, folded + "\U0010ffff"]
            rows = conn.execute(
                self.q(
                    f"SELECT patient_key, summary FROM summaries WHERE {' AND '.join(where)} "
                    "ORDER BY family, given, patient_key LIMIT ?"
                ),
                (*params, limit),
            ).fetchall()
        return [(key, summary_from_json(text)) for key, text in rows]

    def timeline(
        self,
        key: str,
        *,
        types: Iterable[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        code: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[TimelineEntry], str | None]:
        _check_limit(limit)
        after = decode_cursor(cursor) if cursor else None
        where, params = [], []
        types = sorted(set(types)) if types else None
        if types:
            where.append(self.backend.in_list("event_type"))
            params.append(self.backend.list_param(types))
        if since:
            where.append("occurred >= ?")
            params.append(_time(since, "since"))
        if until:
            where.append("occurred <= ?")
            params.append(_time(until, "until"))
        if code:
            where.append(self.backend.contains("codes"))
            params.append(f"{_CODE_MARK}{code}{_CODE_MARK}")
        if after is not None:
            where.append("(occurred, recorded, event_id) > (?, ?, ?)")
            params += list(after)
        with self._reading() as conn:
            owner = self._owners(conn, key)
            keys = sorted(owner)
            if len(keys) == 1:
                who, who_params = "patient_key = ?", [keys[0]]
            else:
                who = self.backend.in_list("patient_key")
                who_params = [self.backend.list_param(keys)]
            rows = conn.execute(
                self.q(
                    f"SELECT {_READ_COLUMNS} FROM entries WHERE {' AND '.join([who, *where])} "
                    "ORDER BY occurred, recorded, event_id LIMIT ?"
                ),
                (*who_params, *params, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        entries = [_entry(row, owner.get(row[1]), StoredRecord) for row in rows[:limit]]
        return entries, (encode_cursor(entries[-1].order) if more else None)

    def events(self, key: str) -> tuple[list[ClinicalEvent], list[dict[str, Any]]]:
        with self._reading() as conn:
            survivor = self._resolve(conn, key)
            entries = self._entries_of(conn, self._group(conn, survivor))
        events = [from_record(dict(e.event)) for e in entries if not e.is_alert]
        alerts = [dict(e.event) for e in entries if e.is_alert]
        return events, alerts

    def alert(self, alert_id: str) -> ClinicalAlert | None:
        ids = [alert_event_id(alert_id, status.value) for status in AlertStatus]
        with self._reading() as conn:
            rows = conn.execute(
                self.q(f"SELECT record FROM entries WHERE {self.backend.in_list('event_id')}"),
                (self.backend.list_param(ids),),
            ).fetchall()
        return latest(alert_from_record(_loads(row[0])) for row in rows).get(alert_id)

    def alerts(
        self,
        status: StatusFilter = StatusFilter.OPEN,
        patient_key: str | None = None,
        rule: str | None = None,
        limit: int = 100,
    ) -> list[ClinicalAlert]:
        _check_limit(limit)
        admitted = StatusFilter(status)
        with self._reading() as conn:
            if patient_key is None:
                rows = conn.execute(self.q(ALL_ALERTS_SQL)).fetchall()
            else:
                keys = self._group(conn, self._resolve(conn, patient_key))
                rows = conn.execute(
                    self.q(
                        f"SELECT record FROM entries WHERE {self.backend.in_list('patient_key')} "
                        f"AND {ALERT_TYPES_SQL} ORDER BY seq"
                    ),
                    (self.backend.list_param(keys),),
                ).fetchall()
        states = latest(alert_from_record(_loads(row[0])) for row in rows).values()
        shown = [a for a in states if admitted.admits(a) and (rule is None or a.rule == rule)]
        shown.sort(key=_newest_first)
        return shown[:limit]

    def stream_since(
        self, sequence: int, patient_key: str | None = None, limit: int = 500
    ) -> list[tuple[int, TimelineEntry]]:
        _check_limit(limit)
        with self._reading() as conn:
            owner: dict[str, str | None] = {}
            where, params = ["seq > ?"], [int(sequence)]
            if patient_key is not None:
                owner = self._owners(conn, patient_key)
                where.append(self.backend.in_list("patient_key"))
                params.append(self.backend.list_param(sorted(owner)))
            rows = conn.execute(
                self.q(
                    f"SELECT seq, {_READ_COLUMNS} FROM entries WHERE {' AND '.join(where)} "
                    "ORDER BY seq LIMIT ?"
                ),
                (*params, limit),
            ).fetchall()
        return [(int(row[0]), _entry(row[1:], owner.get(row[2]), StoredRecord)) for row in rows]

    def latest_sequence(self) -> int:
        """The sequence number of the last entry stored (0 before the first)."""
        with self._reading() as conn:
            return int(conn.execute("SELECT next_seq FROM store_state").fetchone()[0]) - 1


class _Batch:
    """One batch being written, inside its transaction."""

    def __init__(self, store: Store, conn: Any) -> None:
        self.store = store
        self.conn = conn
        self.q = store.q
        self.summaries: dict[str, sm.PatientSummary] = {}
        self.gone: set[str] = set()
        self.generation = 0
        self.identity = store._identity

    def run(
        self,
        entries: Sequence[Entry],
        offsets: Offsets,
        expected: Mapping[tuple[str, str, int], int | None] | None,
    ) -> Applied:
        store, conn, q = self.store, self.conn, self.q
        backend = store.backend
        writer, generation, next_seq = conn.execute(
            "SELECT writer, generation, next_seq FROM store_state"
        ).fetchone()
        if writer != store._writer or generation != store._generation:
            # Another writer (or a failed batch) came between: trust nothing remembered.
            self.identity = store._load_identity(conn)
            store._summaries.clear()
            store._kept.clear()
            store._memos.clear()
        if expected is not None:
            self._check_offsets(offsets, expected)
        applied = Applied()

        # The entries: each event id once.
        unique: dict[str, Entry] = {}
        for entry in entries:
            unique.setdefault(entry.event_id, entry)
        applied.repeated = len(entries) - len(unique)
        if unique:
            known = conn.execute(
                q(f"SELECT event_id FROM entries WHERE {backend.in_list('event_id')}"),
                (backend.list_param(list(unique)),),
            ).fetchall()
            for (event_id,) in known:
                del unique[event_id]
                applied.repeated += 1
        new = list(unique.values())
        seq = next_seq
        rows = []
        for entry in new:
            order = entry.order
            rows.append(
                (
                    entry.event_id,
                    seq,
                    entry.patient_key,
                    order.occurred,
                    order.recorded,
                    entry.event_type,
                    entry.occurred_at,
                    entry.recorded_at,
                    entry.summary,
                    codes(entry),
                    _record_text(entry.event),
                )
            )
            seq += 1
        if rows:
            backend.insert_many(conn, "entries", _ENTRY_COLUMNS, rows)
        applied.stored = len(new)
        applied.alerts = sum(1 for entry in new if entry.is_alert)
        applied.last_sequence = seq - 1

        # Who is who, and each patient's summary.
        texts = store._stored_texts(
            conn, {idn.resolve(self.identity, entry.patient_key) for entry in new}
        )
        identity = self.identity
        summaries = self.summaries
        refold: set[str] = set()
        merges: list[tuple[str, str, int]] = []
        relinked: set[str] = set()
        xrefs: set[tuple[str, str, str]] = set()
        merged, linked, unlinked, refused = (
            idn.Outcome.MERGED,
            idn.Outcome.LINKED,
            idn.Outcome.UNLINKED,
            idn.Outcome.REFUSED,
        )
        for n, entry in enumerate(new):
            before = identity
            identity, decision = idn.apply(identity, entry)
            if decision.identifiers:
                for x in decision.identifiers:
                    xrefs.add((x.value, x.authority or "", x.key))
            outcome = decision.outcome
            if outcome is merged:
                prior_root = idn.resolve(before, decision.prior)
                merges.append((prior_root, decision.survivor, next_seq + n))
                for moved in decision.moved:
                    self.gone.add(moved)
                    summaries.pop(moved, None)
                    refold.discard(moved)
                refold.add(decision.survivor)
                applied.decisions.append(decision)
                continue
            if outcome is linked or outcome is unlinked:
                for key in (entry.patient_key, decision.prior):
                    relinked.update(idn.group(identity, key))
                applied.decisions.append(decision)
            elif outcome is refused:
                applied.decisions.append(decision)
            survivor = idn.resolve(identity, entry.patient_key)
            if survivor in refold:
                continue
            current = summaries.get(survivor)
            if current is None:
                current = store._stored_summary(conn, survivor, texts)
            try:
                summaries[survivor] = sm.apply(current, entry)
            except sm.EntryOutOfOrder:  # older than what the summary remembers
                refold.add(survivor)
                summaries.pop(survivor, None)
        for survivor in refold:
            summaries[survivor] = sm.fold(store._entries_of(conn, idn.group(identity, survivor)))
        applied.refolded = len(refold)
        self.identity = identity

        # Write it all.
        cur = conn.cursor()
        if merges:
            cur.executemany(q("INSERT INTO merges (prior, survivor, seq) VALUES (?, ?, ?)"), merges)
        for key in sorted(relinked):
            cur.execute(q("DELETE FROM links WHERE patient_key = ?"), (key,))
            others = sorted(identity.links.get(key, ()))
            if others:
                cur.executemany(
                    q("INSERT INTO links (patient_key, other) VALUES (?, ?)"),
                    [(key, other) for other in others],
                )
        if xrefs:
            cur.executemany(
                q(
                    "INSERT INTO identifiers (value, authority, patient_key) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING"
                ),
                sorted(xrefs),
            )
        if self.gone:
            cur.executemany(
                q("DELETE FROM summaries WHERE patient_key = ?"), [(k,) for k in sorted(self.gone)]
            )
        if summaries:
            memos = store._memos
            cur.executemany(
                q(
                    "INSERT INTO summaries (patient_key, family, given, seq, summary) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (patient_key) DO UPDATE SET "
                    "family = excluded.family, given = excluded.given, seq = excluded.seq, "
                    "summary = excluded.summary"
                ),
                [
                    (
                        key,
                        *_name_columns(s),
                        applied.last_sequence,
                        summary_to_json(s, memos.get(key) or memos.setdefault(key, FragmentMemo())),
                    )
                    for key, s in sorted(summaries.items())
                ],
            )
        if offsets:
            cur.executemany(
                q(
                    "INSERT INTO offsets (group_id, topic, partition_id, next_offset) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (group_id, topic, partition_id) "
                    "DO UPDATE SET next_offset = excluded.next_offset"
                ),
                [(g, t, p, o) for (g, t, p), o in sorted(offsets.items())],
            )
        self.generation = generation + 1
        cur.execute(
            q("UPDATE store_state SET writer = ?, generation = ?, next_seq = ?"),
            (store._writer, self.generation, seq),
        )
        return applied

    def _check_offsets(
        self, offsets: Offsets, expected: Mapping[tuple[str, str, int], int | None]
    ) -> None:
        wanted = {(g, t) for g, t, _ in (*offsets, *expected)}
        stored: dict[tuple[str, str, int], int] = {}
        for group, topic in wanted:
            for partition, offset in self.store._offsets(self.conn, group, topic).items():
                stored[(group, topic, partition)] = offset
        for where, offset in expected.items():
            if stored.get(where) != offset:
                raise OffsetsMoved(
                    f"the offset of {where[1]} partition {where[2]} in the timeline store is "
                    f"{stored.get(where)}, not {offset}: another writer stored it"
                )


_EMPTY: Final = sm.PatientSummary()

# The entries of alerts, spelled as the partial index ``entries_alerts`` (migration 2) is.
ALERT_TYPES_SQL: Final = "event_type IN ({})".format(
    ", ".join(f"'{t}'" for t in ALERT_TYPES.values())
)
ALL_ALERTS_SQL: Final = f"SELECT record FROM entries WHERE {ALERT_TYPES_SQL} ORDER BY seq"


def _newest_first(alert: ClinicalAlert) -> tuple[int, str]:
    raised = instant(alert.raised_at)
    return (-raised if raised is not None else 2**63, alert.alert_id)


def codes(entry: Entry) -> str:
    """The codes an entry can be found by (observations, orders, medications, allergies,
    diagnoses, problems), each between two marks."""
    if entry.is_alert:
        return ""
    payload = entry.event.get("payload") or {}
    found: list[str] = []
    for part in ("observations", "orders", "medications", "allergies", "diagnoses", "problems"):
        for item in payload.get(part) or ():
            code = item.get("code")
            if code:
                found.append(code)
            local = item.get("local_code")
            if local:
                found.append(local)
    if not found:
        return ""
    return _CODE_MARK + _CODE_MARK.join(dict.fromkeys(found)) + _CODE_MARK


def _name_columns(summary: sm.PatientSummary) -> tuple[str | None, str | None]:
    name = summary.name
    if name is None:
        return None, None
    family = " ".join(name.family.split()).casefold() if name.family else None
    given = " ".join(" ".join(name.given).split()).casefold() if name.given else None
    return family, given


def _entry(
    row: Sequence[Any], linked: str | None = None, read: Callable[[str], Any] = _loads
) -> TimelineEntry:
    (
        event_id,
        patient_key,
        occurred,
        recorded,
        event_type,
        occurred_at,
        recorded_at,
        line,
        record,
    ) = row
    return _new_entry(
        event_id,
        event_type,
        occurred_at,
        recorded_at,
        patient_key,
        line,
        read(record),
        OrderKey(int(occurred), int(recorded), event_id),
        linked,
    )


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"the limit must be a whole number from 1 to {MAX_LIMIT}")


def _time(value: str, name: str) -> int:
    moment = instant(value)
    if moment is None:
        raise QueryError(
            f"{name} must be an ISO 8601 time such as 2026-11-28T10:15-06:00 or 2026-11-28"
        )
    return moment


# Cursors: the clinical-order key of the last entry of a page.

_CURSOR_VERSION: Final = 1


def encode_cursor(order: OrderKey) -> str:
    text = _dumps([_CURSOR_VERSION, order.occurred, order.recorded, order.event_id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> OrderKey:
    """The order key a cursor holds; :class:`InvalidCursor` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, occurred, recorded, event_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this timeline handed out") from None
    if (
        version != _CURSOR_VERSION
        or not all(type(v) is int and -(2**63) <= v < 2**63 for v in (occurred, recorded))
        or not isinstance(event_id, str)
    ):
        raise InvalidCursor("the cursor is not one this timeline handed out")
    return OrderKey(occurred, recorded, event_id)
