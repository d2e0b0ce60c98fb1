"""A parsed HL7 v2 message: its segments (:mod:`hl7bus.hl7.segment`) and its header
(:mod:`hl7bus.hl7.header`, the one reader of MSH)."""

from __future__ import annotations

from collections.abc import Iterator

from hl7bus.hl7.charset import DecodedText
from hl7bus.hl7.encoding import Encoding
from hl7bus.hl7.header import Header, header_of
from hl7bus.hl7.segment import Segment

__all__ = ["Message", "Segment"]


class Message:
    """A parsed HL7 v2 message, with the MSH header fields as properties.

    Properties return unescaped text, '' when empty.
    """

    __slots__ = ("_header", "encoding", "segments", "text", "warnings")

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
        self._header: Header | None = None

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

    @property
    def header(self) -> Header:
        """The header, read by :func:`hl7bus.hl7.header.header_of` once."""
        header = self._header
        if header is None:
            header = self._header = header_of(self.segments[0], self.segment("EVN"))
        return header

    @property
    def sending_application(self) -> str:
        return self.header.sending_application

    @property
    def sending_facility(self) -> str:
        return self.header.sending_facility

    @property
    def receiving_application(self) -> str:
        return self.header.receiving_application

    @property
    def receiving_facility(self) -> str:
        return self.header.receiving_facility

    @property
    def message_datetime(self) -> str:
        """MSH-7 as written (its first component: the timestamp)."""
        return self.header.message_datetime

    @property
    def message_type(self) -> str:
        """MSH-9.1; for a v2.1-style ``ADT_A01`` the part before the underscore."""
        return self.header.message_type

    @property
    def trigger_event(self) -> str:
        """MSH-9.2; else the event of a v2.1-style ``ADT_A01``; else EVN-1."""
        return self.header.trigger_event

    @property
    def message_structure(self) -> str:
        return self.header.message_structure

    @property
    def control_id(self) -> str:
        return self.header.control_id

    @property
    def processing_id(self) -> str:
        return self.header.processing_id

    @property
    def version_raw(self) -> str:
        """MSH-12.1 as written."""
        return self.header.version_raw

    @property
    def version(self) -> str:
        """MSH-12.1 as a version id (``2.5.0`` -> ``2.5``, ``2.3.z`` -> ``2.3``)."""
        return self.header.version

    @property
    def accept_ack_type(self) -> str:
        return self.header.accept_ack_type

    @property
    def application_ack_type(self) -> str:
        return self.header.application_ack_type

    @property
    def charset_declared(self) -> str:
        """MSH-18, first repetition."""
        return self.header.charset
