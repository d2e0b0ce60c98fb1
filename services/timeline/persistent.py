"""Two small immutable collections that change cheaply: each change gives a new value
and shares everything it did not touch with the old one, so a fold can keep every state
it made without copying the whole of it per event.

- :class:`PMap`: a map of hashable keys, a two-level trie of 64 × 64 dict buckets; a
  change copies two 64-slot tuples and one bucket.
- :class:`IdSet`: a set of strings kept as runs of frozensets whose sizes halve, like a
  binary counter; an add costs O(log n) amortized, a lookup checks O(log n) runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_WIDTH: Final = 64
_MASK: Final = _WIDTH - 1
_EMPTY_BUCKET: dict[Any, Any] = {}  # shared by every empty slot; never written
_EMPTY_NODE: Final = (_EMPTY_BUCKET,) * _WIDTH
_EMPTY_ROOT: Final = (_EMPTY_NODE,) * _WIDTH


class PMap(Generic[K, V]):
    """An immutable map; :meth:`set` and :meth:`discard` return a new map."""

    __slots__ = ("_root", "_size")

    def __init__(self) -> None:
        self._root: tuple[tuple[dict[K, V], ...], ...] = _EMPTY_ROOT
        self._size = 0

    def get(self, key: K, default: V | None = None) -> V | None:
        h = hash(key)
        return self._root[h & _MASK][(h >> 6) & _MASK].get(key, default)

    def __contains__(self, key: object) -> bool:
        h = hash(key)
        return key in self._root[h & _MASK][(h >> 6) & _MASK]

    def __len__(self) -> int:
        return self._size

    def set(self, key: K, value: V) -> PMap[K, V]:
        h = hash(key)
        i, j = h & _MASK, (h >> 6) & _MASK
        node = self._root[i]
        bucket = dict(node[j])
        grew = key not in bucket
        bucket[key] = value
        return self._with(i, j, node, bucket, self._size + grew)

    def discard(self, key: K) -> PMap[K, V]:
        h = hash(key)
        i, j = h & _MASK, (h >> 6) & _MASK
        node = self._root[i]
        if key not in node[j]:
            return self
        bucket = dict(node[j])
        del bucket[key]
        return self._with(i, j, node, bucket, self._size - 1)

    def _with(self, i: int, j: int, node: tuple, bucket: dict, size: int) -> PMap[K, V]:
        new = PMap.__new__(PMap)
        new._root = (*self._root[:i], (*node[:j], bucket, *node[j + 1 :]), *self._root[i + 1 :])
        new._size = size
        return new

    def items(self) -> Iterator[tuple[K, V]]:
        for node in self._root:
            if node is _EMPTY_NODE:
                continue
            for bucket in node:
                yield from bucket.items()

    def __iter__(self) -> Iterator[K]:
        return (k for k, _ in self.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PMap):
            return NotImplemented
        return self._size == other._size and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PMap({dict(self.items())!r})"


class IdSet:
    """An immutable set of ids; :meth:`add` returns a new set."""

    __slots__ = ("_runs", "_size")

    def __init__(self) -> None:
        self._runs: tuple[frozenset[str], ...] = ()
        self._size = 0

    def __contains__(self, item: object) -> bool:
        for run in self._runs:  # noqa: SIM110 - a plain loop: this runs for every event
            if item in run:
                return True
        return False

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        for run in self._runs:
            yield from run

    def add(self, item: str) -> IdSet:
        if item in self:
            return self
        runs = [*self._runs, frozenset((item,))]
        while len(runs) > 1 and len(runs[-2]) <= len(runs[-1]):
            last = runs.pop()
            runs[-1] = runs[-1] | last
        new = IdSet.__new__(IdSet)
        new._runs = tuple(runs)
        new._size = self._size + 1
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdSet):
            return NotImplemented
        return self._size == other._size and set(self) == set(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IdSet({len(self)} ids)"
