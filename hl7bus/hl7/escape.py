"""HL7 v2 escape sequences, turned back into the text they stand for.

Escapes are written with the message's own escape character (MSH-2, 3rd
character), which is usually ``\\`` but need not be.  Supported:

- delimiters: ``F`` field, ``S`` component, ``T`` subcomponent, ``R``
  repetition, ``E`` escape, ``P`` truncation (v2.7);
- ``Xhh..``: bytes in hexadecimal (either case), decoded in the message's
  charset;
- formatting: ``.br`` and ``.ce`` become a line break, ``.sp n`` n line
  breaks, ``.sk n`` n spaces; ``.fi``, ``.nf``, ``.in``, ``.ti`` are dropped;
- ``H`` and ``N`` (highlight on and off) and charset switches ``Cxxyy`` and
  ``Mxxyyzz`` are dropped.

Anything else, a lone escape character or one with no closing partner, stays
as written.  Unescaping never raises.
"""

from __future__ import annotations

from hl7bus.hl7.encoding import Encoding

_HEX = frozenset("0123456789abcdefABCDEF")
_MAX_REPEAT = 99


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in _HEX for c in text)


def _count(argument: str) -> int:
    """The number after a formatting command (``.sp 3``), 1 when absent."""
    digits = argument.strip().lstrip("+")
    if digits.isascii() and digits.isdigit():
        return min(int(digits[:3]), _MAX_REPEAT) if len(digits) <= 3 else _MAX_REPEAT
    return 1


def decode_hex(hex_digits: str, charset: str) -> str:
    """The text of ``\\X..\\`` bytes, read in ``charset``, else UTF-8, else cp1252."""
    data = bytes.fromhex(hex_digits)
    for codec in (charset, "utf-8"):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", errors="replace")


def _formatting(command: str) -> str | None:
    name, argument = command[:3], command[3:]
    if name in (".br", ".ce") and not argument.strip():
        return "\n"
    if name == ".sp":
        return "\n" * _count(argument)
    if name == ".sk":
        return " " * _count(argument)
    if name in (".fi", ".nf") and not argument.strip():
        return ""
    if name in (".in", ".ti"):
        return ""
    return None


def _translate(code: str, encoding: Encoding, charset: str) -> str | None:
    """What one escape sequence stands for, or None when it is not one."""
    if not code:
        return None
    if len(code) == 1:
        if code == "F":
            return encoding.field
        if code == "S":
            return encoding.component
        if code == "T":
            return encoding.subcomponent
        if code == "R":
            return encoding.repetition
        if code == "E":
            return encoding.escape
        if code == "P":
            return encoding.truncation
        if code in ("H", "N"):
            return ""
        return None
    head, rest = code[0], code[1:]
    if head == "X":
        if len(rest) % 2 == 0 and _is_hex(rest):
            return decode_hex(rest, charset)
        return None
    if head == ".":
        return _formatting(code)
    if head == "C" and len(rest) == 4 and _is_hex(rest):
        return ""
    if head == "M" and len(rest) in (4, 6) and _is_hex(rest):
        return ""
    return None


def unescape(value: str, encoding: Encoding, charset: str = "utf-8") -> str:
    """``value`` with its escape sequences replaced by the text they stand for."""
    esc = encoding.escape
    if esc is None or esc not in value:
        return value
    out: list[str] = []
    position = 0
    while True:
        start = value.find(esc, position)
        if start < 0:
            break
        end = value.find(esc, start + 1)
        if end < 0:
            break
        replacement = _translate(value[start + 1 : end], encoding, charset)
        if replacement is None:
            # Not an escape: the escape character is literal; look again after it.
            out.append(value[position : start + 1])
            position = start + 1
            continue
        out.append(value[position:start])
        out.append(replacement)
        position = end + 1
    out.append(value[position:])
    return "".join(out)


def escape(value: str, encoding: Encoding) -> str:
    """``value`` written safely inside a field (the reverse of :func:`unescape`).

    Only delimiters are escaped; line breaks become ``.br``.
    """
    esc = encoding.escape
    if esc is None:
        return value
    table = {
        esc: f"{esc}E{esc}",
        encoding.field: f"{esc}F{esc}",
        encoding.component: f"{esc}S{esc}",
        encoding.repetition: f"{esc}R{esc}",
        "\r\n": f"{esc}.br{esc}",
        "\n": f"{esc}.br{esc}",
        "\r": f"{esc}.br{esc}",
    }
    if encoding.subcomponent:
        table[encoding.subcomponent] = f"{esc}T{esc}"
    if encoding.truncation:
        table[encoding.truncation] = f"{esc}P{esc}"
    out: list[str] = []
    i = 0
    while i < len(value):
        if value.startswith("\r\n", i):
            out.append(table["\r\n"])
            i += 2
            continue
        char = value[i]
        out.append(table.get(char, char))
        i += 1
    return "".join(out)
