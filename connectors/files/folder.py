"""The pickup folder on disk: scanning it, reading a file, and filing a finished file
away into ``done/`` or ``error/`` with its result beside it."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from hl7bus.connectors.files.arrival import Seen
from hl7bus.connectors.files.placement import Folder, free_name, sidecar_name


def prepare(directory: Path) -> None:
    """Create ``done/`` and ``error/`` in the pickup folder."""
    for folder in Folder:
        (directory / folder.value).mkdir(exist_ok=True)


def scan(directory: Path) -> list[Seen]:
    """The regular files directly in ``directory`` (not its sub-folders, not symlinks)."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # gone between listing and stat
                continue
            found.append(Seen(entry.name, info.st_size, info.st_mtime, info.st_ino))
    return found


def read(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of the file."""
    with path.open("rb") as handle:
        return handle.read(limit)


def file_away(directory: Path, name: str, folder: Folder, document: dict) -> str:
    """Write the result next to where the file goes, then move the file there.

    Returns the name it got in the folder (``name``, or ``stem.N.suffix`` when an earlier
    file of that name is already there).  The result is written first, so that a crash in
    between leaves the file in the pickup folder, to be sent again.
    """
    target = directory / folder.value
    final = free_name(name, set(os.listdir(target)))
    document = {**document, "filed_as": f"{folder.value}/{final}"}
    sidecar = target / sidecar_name(final)
    partial = target / f".{sidecar.name}.tmp"
    with partial.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, sidecar)
    os.rename(directory / name, target / final)
    _sync_folder(target)
    _sync_folder(directory)
    return final


def _sync_folder(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be synced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
