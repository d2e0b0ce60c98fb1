"""MLLP framing as a byte state machine with no I/O: ``feed(bytes) -> frames``.

A frame is ``<VT> message <FS><CR>`` (0x0B ... 0x1C 0x0D).  Bytes outside a frame are
skipped and counted; a frame longer than the limit is not buffered — its first bytes
are kept (enough to answer it) and the rest is discarded up to its end block.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hl7bus.hl7.header import PREFIX_KEPT

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\r"
_CR = 0x0D


def frame(message: bytes) -> bytes:
    """One message wrapped for MLLP."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


class _State(Enum):
    OUTSIDE = "outside"  # waiting for a start block
    BODY = "body"  # inside a frame
    END = "end"  # saw the end block, expecting a carriage return


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete message, or the kept start of one that was too large."""

    payload: bytes
    oversized: bool = False
    size: int = 0  # the whole frame's length, also when oversized


class MllpDecoder:
    """Turns a byte stream into frames, whatever way it is split into reads."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._state = _State.OUTSIDE
        self._buffer = bytearray()
        self._size = 0
        self.skipped_bytes = 0  # bytes seen outside any frame
        self.frames = 0

    @property
    def in_frame(self) -> bool:
        """True while part of a frame has arrived and its end has not."""
        return self._state is not _State.OUTSIDE

    @property
    def pending_bytes(self) -> int:
        return self._size

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        view = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            state = self._state
            if state is _State.OUTSIDE:
                start = data.find(START_BLOCK, i)
                if start < 0:
                    self.skipped_bytes += n - i
                    break
                self.skipped_bytes += start - i
                i = start + 1
                self._state = _State.BODY
                self._buffer.clear()
                self._size = 0
            elif state is _State.BODY:
                end = data.find(END_BLOCK, i)
                stop = n if end < 0 else end
                self._take(view[i:stop])
                if end < 0:
                    break
                i = end + 1
                self._state = _State.END
            else:  # _State.END: the frame is complete; its trailing CR is optional
                if data[i] == _CR:
                    i += 1
                frames.append(self._finish())
        return frames

    def _take(self, chunk: bytes | memoryview) -> None:
        self._size += len(chunk)
        room = PREFIX_KEPT if self._size > self.max_message_bytes else self.max_message_bytes
        room -= len(self._buffer)
        if room > 0:
            self._buffer += chunk[:room]
        if self._size > self.max_message_bytes and len(self._buffer) > PREFIX_KEPT:
            del self._buffer[PREFIX_KEPT:]

    def _finish(self) -> Frame:
        self._state = _State.OUTSIDE
        self.frames += 1
        oversized = self._size > self.max_message_bytes
        found = Frame(bytes(self._buffer), oversized=oversized, size=self._size)
        self._buffer.clear()
        self._size = 0
        return found
