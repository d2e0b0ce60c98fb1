"""Turning a message's bytes into text, guided by MSH-18.

The MSH segment itself is ASCII, so MSH-18 (character set) can be read from
the raw bytes before anything is decoded.  The declared charset is tried
first, strictly.  When it is absent, unknown or wrong, hl7bus tries UTF-8, the
sender's configured default, GB 18030 and finally cp1252 (then Latin-1, which
never fails), and says in :attr:`DecodedText.note` what it did.

A message that declares a single-byte charset (ASCII, 8859/x) but whose bytes
are valid UTF-8 with non-ASCII characters is read as UTF-8: such bytes are
almost never meant as Latin-1.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from hl7bus.errors import ErrorCode, MessageError

UTF8_BOM = b"\xef\xbb\xbf"

# HL7 table 0211 (and the spellings senders use instead) -> Python codec.
# None: a known HL7 value for which Python has no codec.
_HL7_CHARSETS: dict[str, str | None] = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "ISO 646": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/10": "iso8859-10",
    "8859/11": "iso8859-11",
    "8859/13": "iso8859-13",
    "8859/14": "iso8859-14",
    "8859/15": "iso8859-15",
    "8859/16": "iso8859-16",
    "ISO IR14": "shift_jis",
    "ISO IR87": "iso2022_jp",
    "ISO IR159": "iso2022_jp_2",
    "GB 18030-2000": "gb18030",
    "GB 18030": "gb18030",
    "GB18030": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
    "BIG5": "big5",
    "CNS 11643-1992": None,
    "UNICODE": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
    # Not in table 0211, but common in the wild.
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "UTF-16": "utf-16",
    "ISO-8859-1": "iso8859-1",
    "ISO8859-1": "iso8859-1",
    "ISO_8859-1": "iso8859-1",
    "LATIN1": "iso8859-1",
    "LATIN-1": "iso8859-1",
    "WINDOWS-1252": "cp1252",
    "CP1252": "cp1252",
}

_SINGLE_BYTE = frozenset({"ascii", "cp1252"} | {f"iso8859-{n}" for n in range(1, 17)})
_WIDE = ("utf-16", "utf-32")


@dataclass(frozen=True, slots=True)
class DecodedText:
    """How a message's bytes were read.

    ``declared`` is MSH-18 as written (None when empty), ``used`` the Python
    codec that produced the text (``"str"`` when the message arrived as text),
    and ``note`` a sentence when the declaration was absent, unknown or wrong
    and something else was used.
    """

    declared: str | None
    used: str
    note: str | None = None


def codec_for(declared: str | None) -> str | None:
    """The Python codec for an MSH-18 value, or None when unknown or absent."""
    if not declared:
        return None
    return _HL7_CHARSETS.get(" ".join(declared.upper().split()))


def is_known_charset(declared: str) -> bool:
    return " ".join(declared.upper().split()) in _HL7_CHARSETS


def wide_codec(data: bytes) -> str | None:
    """``utf-16``/``utf-32`` (with their byte order) when ``data`` is such text."""
    if data[:1] not in (b"\xff", b"\xfe", b"\x00") and b"\x00" not in data[:8]:
        return None
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = data[:12]
    if head.startswith(b"M\x00\x00\x00S\x00\x00\x00"):
        return "utf-32-le"
    if head.startswith(b"\x00\x00\x00M\x00\x00\x00S"):
        return "utf-32-be"
    if head.startswith(b"M\x00S\x00H\x00"):
        return "utf-16-le"
    if head.startswith(b"\x00M\x00S\x00H"):
        return "utf-16-be"
    return None


def read_msh18(data: bytes) -> tuple[str | None, list[str]]:
    """MSH-18 as written and its repetitions, read straight from the raw bytes.

    ``(None, [])`` when MSH-18 is empty or cannot be found.
    """
    start = data.find(b"MSH", 0, 64)
    if start < 0 or len(data) < start + 5:
        return None, []
    line_end = len(data)
    for terminator in (b"\r", b"\n"):
        found = data.find(terminator, start)
        if 0 <= found < line_end:
            line_end = found
    separator = data[start + 3 : start + 4]
    parts = data[start:line_end].split(separator)
    # parts[0] is "MSH", parts[1] is MSH-2, so MSH-n sits at parts[n - 1].
    if len(parts) < 18:
        return None, []
    value = parts[17].decode("latin-1").strip()
    if not value:
        return None, []
    repetition = parts[1][1:2].decode("latin-1")
    reps = value.split(repetition) if repetition else [value]
    return value, [rep.strip() for rep in reps]


def _declared_codec(reps: list[str]) -> str | None:
    """The codec for MSH-18: ISO 2022 when any repetition names a JIS set."""
    codecs_named = [codec_for(rep) for rep in reps]
    if any(codec and codec.startswith("iso2022") for codec in codecs_named):
        return "iso2022_jp_2"
    return codecs_named[0] if codecs_named else None


def _readable(codec: str, text: str, data: bytes) -> bool:
    """Whether a guessed multi-byte reading kept the message's structure.

    Multi-byte charsets such as GB 18030 accept many byte strings that are not
    theirs; a reading is believed only if every delimiter byte is still a
    delimiter, and if most multi-byte characters have non-ASCII trail bytes,
    as genuine GB 18030, Big5 or EUC-KR text does.
    """
    if codec in _SINGLE_BYTE or codec.startswith("utf"):
        return True
    for delimiter in "|\r\n^~&":
        if text.count(delimiter) != data.count(delimiter.encode()):
            return False
    wide = ascii_trailed = 0
    for char in text:
        if char > "\x7f":
            encoded = char.encode(codec, errors="replace")
            if len(encoded) > 1:
                wide += 1
                if any(b < 0x80 for b in encoded[1:]):
                    ascii_trailed += 1
    return ascii_trailed * 2 <= wide


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_message(data: bytes, default_charset: str | None = None) -> tuple[str, DecodedText]:
    """The text of a message and how it was read.  Never raises on bad bytes."""
    wide = wide_codec(data)
    if wide is not None:
        text = _strict(data, wide)
        if text is not None:
            text = text.lstrip("\ufeff")
            declared, _ = read_msh18(text.encode("ascii", errors="replace"))
            return text, DecodedText(declared, _name(wide))
    has_bom = data.startswith(UTF8_BOM)
    if has_bom:
        data = data[3:]
    declared, reps = read_msh18(data)
    codec = _declared_codec(reps)
    if declared and codec is None and not is_known_charset(declared):
        why = f"MSH-18 declares {declared!r}, which hl7bus does not know"
    elif declared and codec is None:
        why = f"MSH-18 declares {declared}, for which there is no decoder"
    elif declared:
        why = f"MSH-18 declares {declared}"
    else:
        why = "MSH-18 is empty"

    if codec in _WIDE:
        # UTF-16 and UTF-32 text was recognised above by its zero bytes; these are not.
        why = f"{why} but the bytes are not {declared}"
        codec = None
    if codec is not None and codec.startswith("iso2022"):
        text = _strict(data, codec)
        if text is not None:
            return text, DecodedText(declared, _name(codec))
    if data.isascii():
        if codec is None and declared:
            return data.decode("ascii"), DecodedText(
                declared, "ascii", f"{why}; the message is plain ASCII and was read as such."
            )
        plain = "utf-8" if has_bom else "ascii"
        return data.decode("ascii"), DecodedText(declared, _name(codec or plain))

    if codec is not None:
        if codec in _SINGLE_BYTE:
            text = _strict(data, "utf-8")
            if text is not None:
                return text, DecodedText(declared, "utf-8", f"{why} but the message is UTF-8.")
        text = _strict(data, codec)
        if text is not None:
            return text, DecodedText(declared, _name(codec))
        why = f"{why} but the bytes are not valid {declared}"

    candidates = ["utf-8"]
    if default_charset:
        candidates.append(codec_for(default_charset) or default_charset)
    candidates += ["gb18030", "cp1252", "latin-1"]
    for candidate in candidates:
        if candidate == codec:
            continue
        text = _strict(data, candidate)
        if text is not None and _readable(_name(candidate), text, data):
            used = _name(candidate)
            return text, DecodedText(declared, used, f"{why}; the message was read as {used}.")
    raise MessageError(  # pragma: no cover - Latin-1 decodes every byte string
        ErrorCode.CHARSET, "The message bytes could not be read in any charset."
    )


def _name(codec: str) -> str:
    try:
        return codecs.lookup(codec).name
    except LookupError:
        return codec
