"""The store's connections: one per thread at a time, handed on when a thread ends, so a
front door answering from worker threads that come and go neither opens a connection per
thread that ever ran (a leak, and tens of milliseconds to PostgreSQL each) nor shares one
between two threads at once."""

from __future__ import annotations

import gc
import threading

from hl7bus.services.timeline.store_sql import Connections, SqliteBackend


def _in_thread(connections: Connections) -> object:
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(connections.get()))
    worker.start()
    worker.join()
    gc.collect()
    return got[0]


def test_an_ended_threads_connection_serves_the_next_thread(tmp_path):
    connections = Connections(SqliteBackend(tmp_path / "t.db"))
    first = _in_thread(connections)
    for _ in range(20):
        assert _in_thread(connections) is first
    assert connections.opened == 1
    connections.close()


def test_threads_at_once_each_have_their_own(tmp_path):
    connections = Connections(SqliteBackend(tmp_path / "t.db"))
    mine = connections.get()
    theirs = _in_thread(connections)
    assert theirs is not mine
    assert connections.get() is mine
    assert connections.opened == 2
    connections.close()
    assert connections.opened == 0


def test_a_dropped_or_closed_connection_is_never_handed_on(tmp_path):
    connections = Connections(SqliteBackend(tmp_path / "t.db"))
    first = connections.get()
    connections.drop()
    assert connections.get() is not first
    connections.close()
    after = _in_thread(connections)
    assert after is not first and connections.opened == 1
