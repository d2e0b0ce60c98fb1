"""The delimiters of one HL7 v2 message, read from MSH-1 and MSH-2.

A sender may choose any delimiters; ``|^~\\&`` is only the usual choice.
MSH-1 is the field separator; MSH-2 lists, in order, the component,
repetition, escape and subcomponent characters and, from v2.7, the truncation
character.  hl7bus reads what the sender declared and rejects declarations it
cannot use safely.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hl7bus.errors import ErrorCode, MessageError

# A delimiter must be visible ASCII.  Digits are refused (they would cut every
# number), and so is the double quote (HL7's explicit null is "").  Letters are
# allowed for MSH-2: a few test systems use them, and they cannot be confused
# with the segment name, whereas a letter as field separator (``MSHH``) can.
_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))
_DIGITS = frozenset("0123456789")
_NOT_A_DELIMITER = _DIGITS | {'"'}
FIELD_SEPARATORS = frozenset(c for c in _PRINTABLE - _NOT_A_DELIMITER if not c.isalpha())
ENCODING_CHARACTERS = _PRINTABLE - _NOT_A_DELIMITER


@dataclass(frozen=True, slots=True)
class Encoding:
    """The delimiters a message uses.

    ``escape``, ``subcomponent`` and ``truncation`` are ``None`` when MSH-2
    does not declare them; values are then read without that level.
    """

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str | None = "\\"
    subcomponent: str | None = "&"
    truncation: str | None = None
    specials: tuple[str, ...] = dataclasses.field(init=False, repr=False, compare=False)
    """The characters that make a value more than plain text (separators and escape)."""

    def __post_init__(self) -> None:
        chars = (self.component, self.repetition, self.escape, self.subcomponent)
        object.__setattr__(self, "specials", tuple(c for c in chars if c))

    @property
    def msh2(self) -> str:
        """MSH-2 as this encoding would write it."""
        return (
            self.component
            + self.repetition
            + (self.escape or "")
            + (self.subcomponent or "")
            + (self.truncation or "")
        )


DEFAULT_ENCODING = Encoding()


def _describe(char: str) -> str:
    if char in _PRINTABLE:
        return repr(char)
    return f"U+{ord(char):04X}"


def read_encoding(field_separator: str, msh2: str) -> Encoding:
    """The encoding declared by MSH-1 ``field_separator`` and MSH-2 ``msh2``.

    Accepts 2 to 5 characters in MSH-2 (component and repetition at least).
    Raises :class:`MessageError` with ``BAD_ENCODING_CHARACTERS`` for anything
    else: an empty or over-long MSH-2, a repeated character, a digit, a space,
    a control or non-ASCII character, or a letter as field separator.
    """
    if field_separator not in FIELD_SEPARATORS:
        raise MessageError(
            ErrorCode.BAD_ENCODING_CHARACTERS,
            f"MSH-1, the field separator, is {_describe(field_separator)}; "
            "it must be a visible ASCII punctuation character such as '|'.",
            segment="MSH",
            field=1,
            segment_index=0,
        )
    if not msh2:
        raise MessageError(
            ErrorCode.BAD_ENCODING_CHARACTERS,
            "MSH-2 is empty; it must list the encoding characters, usually ^~\\&.",
            segment="MSH",
            field=2,
            segment_index=0,
        )
    if len(msh2) < 2 or len(msh2) > 5:
        raise MessageError(
            ErrorCode.BAD_ENCODING_CHARACTERS,
            f"MSH-2 is {msh2!r}: {len(msh2)} characters, where 2 to 5 are expected "
            "(component, repetition, escape, subcomponent, truncation).",
            segment="MSH",
            field=2,
            segment_index=0,
        )
    for char in msh2:
        if char not in ENCODING_CHARACTERS:
            raise MessageError(
                ErrorCode.BAD_ENCODING_CHARACTERS,
                f"MSH-2 is {msh2!r}, which holds {_describe(char)}; encoding characters "
                "must be visible ASCII, not digits, spaces or the double quote.",
                segment="MSH",
                field=2,
                segment_index=0,
            )
    if len(set(msh2)) != len(msh2) or field_separator in msh2:
        raise MessageError(
            ErrorCode.BAD_ENCODING_CHARACTERS,
            f"MSH-2 is {msh2!r} with field separator {field_separator!r}: "
            "each delimiter must be a different character.",
            segment="MSH",
            field=2,
            segment_index=0,
        )
    chars = [*msh2, None, None, None]
    return Encoding(
        field=field_separator,
        component=msh2[0],
        repetition=msh2[1],
        escape=chars[2],
        subcomponent=chars[3],
        truncation=chars[4],
    )
