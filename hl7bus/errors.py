"""The one error tree of hl7bus.

Every failure a message can meet on its way through the bus is an
:class:`Hl7BusError` carrying a code, the segment and the field, and a
sentence a person understands.  The ACK's ERR segment, the dead-letter record
and the log line are all built from the same object.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class ErrorCode(Enum):
    """What went wrong, with the HL7 table 0357 condition code that says it in an ERR segment.

    Which acknowledgment code each one gets is the ACK policy's (:mod:`hl7bus.mllp.ack`)."""

    NOT_HL7 = ("not an HL7 message", 100)
    BAD_ENCODING_CHARACTERS = ("bad encoding characters", 100)
    SEGMENT_SEQUENCE = ("segment sequence error", 100)
    REQUIRED_FIELD_MISSING = ("required field missing", 101)
    DATA_TYPE = ("data type error", 102)
    TABLE_VALUE = ("table value not found", 103)
    # MSH-9 that is not a message type (``adt``, ``RSP^SLI`` in a message whose component
    # separator is ``$``), or a trigger that is not one: not a message hl7bus can accept.
    UNSUPPORTED_MESSAGE_TYPE = ("unsupported message type", 200)
    UNSUPPORTED_EVENT = ("unsupported event code", 201)
    UNSUPPORTED_PROCESSING_ID = ("unsupported processing id", 202)
    UNSUPPORTED_VERSION = ("unsupported version id", 203)
    CHARSET = ("undecodable characters", 102)
    # 104 "value too long": the message is longer than the connector or Kafka accepts.
    MESSAGE_TOO_LARGE = ("message too large", 104)
    FRAMING = ("framing error", 100)
    # 206 "application record locked": the transaction could not be performed at the
    # storage level; the message was not stored, and a resend unchanged will be.
    STORE_FAILED = ("not stored", 206)
    INTERNAL = ("application internal error", 207)

    @property
    def text(self) -> str:
        return self.value[0]

    @property
    def label(self) -> str:
        """The short code, for metric labels: ``not_hl7``, ``unsupported_message_type``."""
        return self.name.lower()

    @property
    def hl7_condition(self) -> int:
        return self.value[1]


class Hl7BusError(Exception):
    """Root of every error hl7bus raises on purpose."""


@dataclass(frozen=True, slots=True)
class ErrorLocation:
    """Where in a message a problem sits (segment name, 1-based field number)."""

    segment: str | None = None
    field: int | None = None
    segment_index: int | None = None


class MessageError(Hl7BusError):
    """A message that cannot be parsed or mapped.  It is rejected, never crashed on."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        segment: str | None = None,
        field: int | None = None,
        segment_index: int | None = None,
        control_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = ErrorLocation(segment, field, segment_index)
        self.control_id = control_id
        self.detail = detail
        """For the operators (dead-letter record, log), never for the sender: e.g. where an
        internal error happened.  Holds no message content."""

    @property
    def segment(self) -> str | None:
        return self.location.segment

    @property
    def field(self) -> int | None:
        return self.location.field

    def with_control_id(self, control_id: str | None) -> MessageError:
        """The same error, now knowing which message it belongs to."""
        if control_id is None or self.control_id is not None:
            return self
        self.control_id = control_id
        return self

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code.text,
            "hl7_condition": self.code.hl7_condition,
            "segment": self.segment,
            "field": self.field,
            "control_id": self.control_id,
            "message": self.message,
        }

    def __repr__(self) -> str:
        where = f"{self.segment or '?'}-{self.field}" if self.field else (self.segment or "?")
        return f"MessageError({self.code.text!r} at {where}: {self.message})"


def internal_error(exc: BaseException, what: str = "this message") -> MessageError:
    """An unexpected failure while handling one message (a bug in hl7bus), as a
    :class:`MessageError` that rejects that message alone.

    The sentence for the sender says what happened and that a resend will not help; it
    never carries the exception's text, which may quote the message (patient data) or
    internals.  ``detail`` names the exception type and where it was raised, for the
    dead-letter record and the log.
    """
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(frame[0].filename).name}:{frame[0].lineno}" if frame else ""
    return MessageError(
        ErrorCode.INTERNAL,
        f"hl7bus failed while processing {what} (an internal error); it is kept on the "
        "dead-letter topic for replay after a fix. Do not resend it.",
        detail=f"{type(exc).__name__}{where}",
    )


class ConfigError(Hl7BusError):
    """A settings or profile problem found at start-up; the process refuses to start."""


class InvalidSetting(ConfigError):
    """An ``HL7BUS_*`` variable whose value does not fit (see :mod:`hl7bus.settings`)."""


class UsageError(Hl7BusError):
    """A command-line value that does not fit (a time, an id), said in one sentence with an
    example of a right one: exit status 2, as a bad option."""


def cannot_listen(exc: OSError, what: str, host: str, port: int, setting: str) -> ConfigError:
    """One sentence for a port that cannot be listened on, and how to choose another."""
    import errno
    import socket

    where = f"cannot listen for {what} on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"{where}: port {port} is in use by another process; stop it, or choose a free "
            f"port with {setting}"
        )
    if exc.errno == errno.EACCES:
        return ConfigError(
            f"{where}: not allowed (ports below 1024 need privileges); choose a port above "
            f"1023 with {setting}"
        )
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return ConfigError(
            f"{where}: {host} is not an address of this machine; choose one of its addresses, "
            "e.g. 127.0.0.1 or 0.0.0.0"
        )
    return ConfigError(f"{where}: {exc.strerror or exc}; choose another port with {setting}")


class DevStackError(Hl7BusError):
    """The local Kafka/registry stack cannot be started, with one sentence on how to fix it."""
