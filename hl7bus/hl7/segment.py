"""One segment of a parsed HL7 v2 message: its name and fields, with HL7 numbering.

Fields are split once when the message is parsed; repetitions, components and
subcomponents are split only when asked for, and values are unescaped only
when they hold the escape character.  For ``MSH``, field 1 is the field separator
itself and field 2 the encoding characters, so ``msh.field(9)`` is MSH-9 as every
specification writes it.
"""

from __future__ import annotations

from hl7bus.hl7.encoding import Encoding
from hl7bus.hl7.escape import unescape

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
