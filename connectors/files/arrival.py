"""Which files in the pickup folder have fully arrived.  Pure: scans in, names out.

A file has arrived when its size and modification time have kept still for the settle
interval, when it was renamed in from a temporary name the folder ignores (``*.tmp``,
``*.part``, dotfiles: the usual write-then-rename of vendor systems), or when its
modification time is older than the settle interval (a file moved in from elsewhere, or
one waiting when the connector starts).

A file that could not be stored is deferred with a growing delay, and offered again
once the delay has passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

IGNORED_SUFFIXES = (".tmp", ".part")


def is_candidate(name: str) -> bool:
    """A name the connector picks up: no dotfile, no temporary name."""
    return not name.startswith(".") and not name.lower().endswith(IGNORED_SUFFIXES)


def retry_delay(attempt: int, initial_s: float, max_s: float) -> float:
    """Seconds to wait after the ``attempt``-th failure (1, 2, ...): doubling, capped."""
    return min(max_s, initial_s * 2 ** max(attempt - 1, 0))


@dataclass(frozen=True, slots=True)
class Seen:
    """One regular file of the folder as a scan saw it."""

    name: str
    size: int
    mtime: float  # seconds since the epoch
    inode: int = 0


@dataclass(slots=True)
class _Tracked:
    seen: Seen
    still_since: float  # when a scan first saw its current size and mtime
    renamed_in: bool


class ArrivalWatch:
    """Follows the folder from scan to scan and says which files are complete."""

    def __init__(
        self, settle_s: float, retry_initial_s: float = 1.0, retry_max_s: float = 60.0
    ) -> None:
        self.settle_s = settle_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._files: dict[str, _Tracked] = {}
        self._temporary_inodes: frozenset[int] = frozenset()
        self._failures: dict[str, int] = {}
        self._deferred: dict[str, float] = {}

    def observe(self, scan: Iterable[Seen], now: float) -> list[Seen]:
        """The files that have arrived and are not deferred, oldest first.

        ``now`` is on the same clock as the files' ``mtime``.  A file is offered on every
        call until it is gone from the folder or deferred.
        """
        scan = list(scan)
        present: set[str] = set()
        for seen in scan:
            if not is_candidate(seen.name):
                continue
            present.add(seen.name)
            tracked = self._files.get(seen.name)
            changed = tracked is None or (tracked.seen.size, tracked.seen.mtime) != (
                seen.size,
                seen.mtime,
            )
            if changed:
                renamed_in = (
                    tracked is None and bool(seen.inode) and (seen.inode in self._temporary_inodes)
                )
                self._files[seen.name] = _Tracked(seen, now, renamed_in)
            else:
                tracked.seen = seen
        for name in set(self._files) - present:
            del self._files[name]
        for table in (self._failures, self._deferred):
            for name in set(table) - present:
                del table[name]
        self._temporary_inodes = frozenset(
            seen.inode for seen in scan if seen.inode and not is_candidate(seen.name)
        )
        ready = [
            tracked.seen
            for name, tracked in self._files.items()
            if self._arrived(tracked, now) and self._deferred.get(name, now) <= now
        ]
        return sorted(ready, key=lambda seen: (seen.mtime, seen.name))

    def _arrived(self, tracked: _Tracked, now: float) -> bool:
        return (
            tracked.renamed_in
            or now - tracked.still_since >= self.settle_s
            or now - tracked.seen.mtime >= self.settle_s
        )

    def failed(self, name: str, now: float) -> float:
        """Defer a file that could not be stored; the delay before it is offered again."""
        attempt = self._failures.get(name, 0) + 1
        self._failures[name] = attempt
        delay = retry_delay(attempt, self.retry_initial_s, self.retry_max_s)
        self._deferred[name] = now + delay
        return delay

    def finished(self, name: str) -> None:
        """The file has left the folder."""
        for table in (self._files, self._failures, self._deferred):
            table.pop(name, None)

    @property
    def waiting(self) -> int:
        """Files seen and not yet finished."""
        return len(self._files)
