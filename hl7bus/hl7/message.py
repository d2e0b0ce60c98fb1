"""A parsed HL7 v2 message: its segments, their fields, and the MSH header.

Fields are split once when the message is parsed; repetitions, components and
subcomponents are split only when asked for, and values are unescaped only
when they hold the escape character.  Field numbers are HL7's: for ``MSH``,
field 1 is the field separator itself and field 2 the encoding characters, so
``msh.field(9)`` is MSH-9 as every specification writes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hl7bus.hl7.charset import DecodedText
from hl7bus.hl7.encoding import Encoding
from hl7bus.hl7.escape import unescape

_OLD_STYLE_TYPE = re.compile(r"([A-Z][A-Z0-9]{2})_([A-Z0-9]{2,3})")
_VERSION = re.compile(r"[vV]?(\d{1,4})\.(\d{1,4})(?!\d)(?:\.(\d{1,4})(?!\d))?")
# Versions whose third number is part of the version, not a patch level.
_THREE_PART_VERSIONS = frozenset({"2.3.1", "2.5.1", "2.7.1", "2.8.1", "2.8.2", "2.9.1"})


def normalise_version(raw: str) -> str:
    """MSH-12.1 as a version id: ``2.5.0`` -> ``2.5``, ``2.3.z`` -> ``2.3``, ``2.5.1`` kept."""
    match = _VERSION.match(raw.strip())
    if match is None:
        return raw.strip()
    major, minor, patch = match.groups()
    short = f"{int(major)}.{int(minor)}"
    if patch is not None and f"{short}.{int(patch)}" in _THREE_PART_VERSIONS:
        return f"{short}.{int(patch)}"
    return short


# Segments whose field 1 is the field separator and field 2 the encoding characters.
_HEADERS = frozenset({"MSH", "FHS", "BHS"})


class Segment:
    """One segment: its name and fields, with HL7 numbering."""

    __slots__ = ("_charset", "_fields", "encoding", "name", "raw")

    def __init__(self, raw: str, encoding: Encoding, charset: str = "utf-8") -> None:
        fields = raw.split(encoding.field)
        name = fields[0]
        if name in _HEADERS:
            fields.insert(1, encoding.field)
        self.name: str = name
        self.raw: str = raw
        self._fields: list[str] = fields
        self.encoding: Encoding = encoding
        self._charset = charset

    def __len__(self) -> int:
        """The number of fields after the segment name (for MSH, MSH-1 counts)."""
        return len(self._fields) - 1

    def __repr__(self) -> str:
        return f"Segment({self.raw!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return self.raw == other.raw and self.encoding == other.encoding

    def __hash__(self) -> int:
        return hash(self.raw)

    def field(self, n: int) -> str:
        """Field ``n`` as written (still escaped), '' when absent."""
        fields = self._fields
        return fields[n] if 0 <= n < len(fields) else ""

    def repetitions(self, n: int) -> list[str]:
        """The repetitions of field ``n`` as written; [] when the field is empty."""
        value = self.field(n)
        if not value:
            return []
        if self._is_header_field(n):
            return [value]
        return value.split(self.encoding.repetition)

    def _is_header_field(self, n: int) -> bool:
        return n in (1, 2) and self.name in _HEADERS

    def _repetition(self, n: int, repetition: int) -> str:
        value = self.field(n)
        rep = self.encoding.repetition
        if rep in value:
            reps = value.split(rep)
            return reps[repetition] if 0 <= repetition < len(reps) else ""
        return value if repetition == 0 else ""

    def get(self, n: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str:
        """The unescaped value at ``n.component.subcomponent`` of repetition ``repetition``.

        Components and subcomponents count from 1, repetitions from 0, as in
        ``PID-3[1].4.2``; '' when absent.
        """
        if component < 1 or subcomponent < 1:
            raise ValueError("components and subcomponents count from 1")
        if self._is_header_field(n):
            return self.field(n) if component == 1 and subcomponent == 1 and repetition == 0 else ""
        value = self._repetition(n, repetition)
        if not value:
            return ""
        encoding = self.encoding
        if encoding.component in value:
            parts = value.split(encoding.component)
            value = parts[component - 1] if component <= len(parts) else ""
        elif component > 1:
            return ""
        sub = encoding.subcomponent
        if sub is not None and sub in value:
            parts = value.split(sub)
            value = parts[subcomponent - 1] if subcomponent <= len(parts) else ""
        elif subcomponent > 1:
            return ""
        esc = encoding.escape
        if esc is not None and esc in value:
            return unescape(value, encoding, self._charset)
        return value

    def components(self, n: int, repetition: int = 0) -> list[str]:
        """The unescaped components of field ``n``, without trailing empty ones.

        A component that has subcomponents keeps them, joined by the
        subcomponent character; read them one by one with :meth:`subcomponents`.
        """
        if self._is_header_field(n):
            value = self.field(n)
            return [value] if value and repetition == 0 else []
        value = self._repetition(n, repetition)
        parts = value.split(self.encoding.component)
        while parts and not parts[-1]:
            parts.pop()
        return [self.unescape(part) for part in parts]

    def subcomponents(self, n: int, component: int = 1, repetition: int = 0) -> list[str]:
        """The unescaped subcomponents of ``n.component``, without trailing empty ones."""
        if component < 1:
            raise ValueError("components count from 1")
        if self._is_header_field(n):
            return self.components(n, repetition)
        value = self._repetition(n, repetition)
        parts = value.split(self.encoding.component)
        value = parts[component - 1] if component <= len(parts) else ""
        sub = self.encoding.subcomponent
        subs = value.split(sub) if sub is not None else [value]
        while subs and not subs[-1]:
            subs.pop()
        return [self.unescape(part) for part in subs]

    def unescape(self, value: str) -> str:
        """A value of this segment, as written, with its escape sequences resolved (in the
        message's encoding characters and character set)."""
        esc = self.encoding.escape
        if esc is not None and esc in value:
            return unescape(value, self.encoding, self._charset)
        return value


class Message:
    """A parsed HL7 v2 message, with the MSH header fields as properties.

    Properties return unescaped text, '' when empty.
    """

    __slots__ = ("encoding", "segments", "text", "warnings")

    def __init__(
        self,
        encoding: Encoding,
        segments: tuple[Segment, ...],
        text: DecodedText,
        warnings: tuple[str, ...] = (),
    ) -> None:
        self.encoding = encoding
        self.segments = segments
        self.text = text
        self.warnings = warnings

    def __repr__(self) -> str:
        return (
            f"Message({self.message_type}^{self.trigger_event} {self.control_id!r}, "
            f"{len(self.segments)} segments)"
        )

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def segment(self, name: str) -> Segment | None:
        """The first segment called ``name``, or None."""
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def all(self, name: str) -> list[Segment]:
        """Every segment called ``name``, in order."""
        return [segment for segment in self.segments if segment.name == name]

    @staticmethod
    def _hd(segment: Segment, n: int) -> str:
        """An HD field: its namespace id, else its universal id."""
        return segment.get(n, 1) or segment.get(n, 2)

    @property
    def sending_application(self) -> str:
        return self._hd(self.segments[0], 3)

    @property
    def sending_facility(self) -> str:
        return self._hd(self.segments[0], 4)

    @property
    def receiving_application(self) -> str:
        return self._hd(self.segments[0], 5)

    @property
    def receiving_facility(self) -> str:
        return self._hd(self.segments[0], 6)

    @property
    def message_datetime(self) -> str:
        """MSH-7 as written (its first component: the timestamp)."""
        return self.segments[0].get(7)

    def _old_style_type(self) -> tuple[str, str] | None:
        """``("ADT", "A01")`` when MSH-9 is a v2.1-style ``ADT_A01`` without components."""
        msh = self.segments[0]
        if msh.get(9, 2):
            return None
        match = _OLD_STYLE_TYPE.fullmatch(msh.get(9, 1).strip())
        return (match[1], match[2]) if match else None

    @property
    def message_type(self) -> str:
        """MSH-9.1; for a v2.1-style ``ADT_A01`` the part before the underscore."""
        old_style = self._old_style_type()
        if old_style is not None:
            return old_style[0]
        return self.segments[0].get(9, 1).strip()

    @property
    def trigger_event(self) -> str:
        """MSH-9.2; else the event of a v2.1-style ``ADT_A01``; else EVN-1."""
        event = self.segments[0].get(9, 2).strip()
        if event:
            return event
        old_style = self._old_style_type()
        if old_style is not None:
            return old_style[1]
        evn = self.segment("EVN")
        return evn.get(1).strip() if evn is not None else ""

    @property
    def message_structure(self) -> str:
        return self.segments[0].get(9, 3).strip()

    @property
    def control_id(self) -> str:
        return self.segments[0].get(10).strip()

    @property
    def processing_id(self) -> str:
        return self.segments[0].get(11).strip()

    @property
    def version_raw(self) -> str:
        """MSH-12.1 as written."""
        return self.segments[0].get(12).strip()

    @property
    def version(self) -> str:
        """MSH-12.1 as a version id (``2.5.0`` -> ``2.5``, ``2.3.z`` -> ``2.3``)."""
        return normalise_version(self.version_raw)

    @property
    def accept_ack_type(self) -> str:
        return self.segments[0].get(15).strip()

    @property
    def application_ack_type(self) -> str:
        return self.segments[0].get(16).strip()

    @property
    def charset_declared(self) -> str:
        """MSH-18, first repetition."""
        return self.segments[0].get(18).strip()
