"""What the HL7 v2 standard says of a message, from hl7apy's tables of the standard:
readable field names for errors, and an optional strict conformance check.

This is the slow, thorough path (milliseconds per message); the bus's own parser does
the fast reading.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache

from hl7bus.hl7.message import Message

_SUPPORTED = (
    "2.1",
    "2.2",
    "2.3",
    "2.3.1",
    "2.4",
    "2.5",
    "2.5.1",
    "2.6",
    "2.7",
    "2.8",
    "2.8.1",
    "2.8.2",
)


def standard_version(version: str) -> str | None:
    """The version of hl7apy's tables to read a message of ``version`` with."""
    if version in _SUPPORTED:
        return version
    major_minor = ".".join(version.split(".")[:2])
    return major_minor if major_minor in _SUPPORTED else None


@lru_cache(maxsize=1024)
def field_name(segment: str, field: int, version: str = "2.5") -> str | None:
    """``field_name("PID", 3)`` -> ``"Patient Identifier List"``; None when unknown."""
    from hl7apy.core import Field
    from hl7apy.exceptions import HL7apyException

    chosen = standard_version(version) or "2.5"
    try:
        name = Field(f"{segment}_{field}", version=chosen).long_name
    except (HL7apyException, ValueError, KeyError, AttributeError):
        return None
    if not name:
        return None
    return name.replace("_", " ").title().replace(" S ", "'s ")


def describe(segment: str | None, field: int | None, version: str = "2.5") -> str | None:
    """``"PID-3 (Patient Identifier List)"``, as far as it is known."""
    if not segment:
        return None
    if not field:
        return segment
    name = field_name(segment, field, version)
    return f"{segment}-{field}" + (f" ({name})" if name else "")


@dataclass(frozen=True, slots=True)
class Conformance:
    """The outcome of a strict check: errors break the standard, warnings are advice."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def check(message: Message) -> Conformance:
    """Validate a parsed message against its version's message structure and tables."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.exceptions import HL7apyException
    from hl7apy.parser import parse_message
    from hl7apy.validation import Validator

    version = standard_version(message.version)
    if version is None:
        return Conformance(
            (f"strict validation knows versions 2.1 to 2.8.2, not {message.version}",), ()
        )
    segments = [s.raw for s in message.segments]
    enc = message.encoding
    msh2 = enc.component + enc.repetition + (enc.escape or "\\") + (enc.subcomponent or "&")
    fields = segments[0].split(enc.field)
    if len(fields) > 1:
        fields[1] = msh2  # hl7apy knows the four classic encoding characters only
    if len(fields) > 11:
        fields[11] = version
    segments[0] = enc.field.join(fields)
    text = "\r".join(segments) + "\r"
    try:
        parsed = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
    except HL7apyException as exc:
        return Conformance((f"{type(exc).__name__}: {exc}",), ())
    except Exception as exc:  # hl7apy raises plain errors on some inputs
        return Conformance((f"{type(exc).__name__}: {exc}",), ())
    fd, report = tempfile.mkstemp(prefix="hl7bus-strict-", suffix=".txt")
    os.close(fd)
    try:
        try:
            Validator.validate(parsed, report_file=report)
        except Exception as exc:
            del exc
        with open(report, encoding="utf-8", errors="replace") as lines:
            found = [line.strip() for line in lines if line.strip()]
    finally:
        os.unlink(report)
    errors = tuple(line.removeprefix("Error: ") for line in found if line.startswith("Error"))
    warnings = tuple(line.removeprefix("Warning: ") for line in found if line.startswith("Warning"))
    return Conformance(errors, warnings)
