"""HL7 escape sequences, read with the message's own escape character."""

from __future__ import annotations

import pytest

from hl7bus.hl7 import Encoding, escape, parse_message, unescape

STANDARD = Encoding()
V27 = Encoding(truncation="#")
HAPI = Encoding(escape="}", subcomponent="&")  # MSH-2 '^~}&': '}' is the escape character


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b", "a^b"),
        ("a\\T\\b", "a&b"),
        ("a\\R\\b", "a~b"),
        ("a\\E\\b", "a\\b"),
        ("C\\E\\temp\\E\\x", "C\\temp\\x"),
        ("AT\\T\\T", "AT&T"),
        ("line 1\\.br\\line 2", "line 1\nline 2"),
        ("a\\.sp\\b", "a\nb"),
        ("a\\.sp 3\\b", "a\n\n\nb"),
        ("a\\.sp3\\b", "a\n\n\nb"),
        ("a\\.sk 2\\b", "a  b"),
        ("\\.ce\\Title", "\nTitle"),
        ("a\\.in+4\\b\\.ti-2\\c\\.fi\\d\\.nf\\e", "abcde"),
        ("\\H\\IMPORTANT\\N\\ text", "IMPORTANT text"),
        ("\\X0D0A\\", "\r\n"),
        ("\\X0d0a\\", "\r\n"),
        ("x\\X41\\y", "xAy"),
        ("Caf\\XC3A9\\", "Café"),
        ("\\C2842\\abc\\C2D41\\", "abc"),
        ("\\M2442\\abc", "abc"),
        ("\\Zlocal\\", "\\Zlocal\\"),
        ("lone \\ backslash", "lone \\ backslash"),
        ("unterminated \\F", "unterminated \\F"),
        ("trailing \\", "trailing \\"),
        ("\\\\", "\\\\"),
        ("\\X4\\", "\\X4\\"),
        ("\\XZZ\\", "\\XZZ\\"),
        ("C:\\dir\\file", "C:\\dir\\file"),
        ("\\P\\", "\\P\\"),  # no truncation character declared
        ("no escapes at all", "no escapes at all"),
        ("", ""),
    ],
)
def test_unescape(written: str, value: str) -> None:
    assert unescape(written, STANDARD) == value


def test_truncation_escape_in_v27() -> None:
    assert unescape("abc\\P\\", V27) == "abc#"


def test_hex_uses_message_charset() -> None:
    assert unescape("Jos\\XE9\\", STANDARD, "iso8859-1") == "José"
    assert unescape("Jos\\XE9\\", STANDARD, "ascii") == "José"  # falls back, never raises
    assert unescape("\\XFF\\", STANDARD, "utf-8") == "ÿ"
    assert unescape("\\XD6D0\\", STANDARD, "gb18030") == "中"


def test_non_backslash_escape_character() -> None:
    assert unescape("a}F}b}S}c}T}d}E}e\\F\\", HAPI) == "a|b^c&d}e\\F\\"
    msg = parse_message("MSH|^~}&|A|B|C|D|2024||ADT^A01|1|P|2.4\rPID|1||1||O}S}BRIEN^PAT}.br}X")
    pid = msg.segment("PID")
    assert pid is not None
    assert pid.get(5) == "O^BRIEN"
    assert pid.get(5, 2) == "PAT\nX"


def test_no_escape_character_declared() -> None:
    enc = Encoding(escape=None, subcomponent=None)
    assert unescape("a\\F\\b", enc) == "a\\F\\b"
    msg = parse_message("MSH|^~|A|B|C|D|2024||ADT^A01|1|P|2.4\rPID|1||a\\F\\b&c")
    assert msg.segment("PID").get(3) == "a\\F\\b&c"  # type: ignore[union-attr]


def test_escapes_are_read_after_splitting() -> None:
    msg = parse_message("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.4\rNTE|1||a\\S\\b^c\\T\\d&e")
    nte = msg.segment("NTE")
    assert nte is not None
    assert nte.get(3) == "a^b"
    assert nte.get(3, 2) == "c&d"
    assert nte.get(3, 2, 2) == "e"
    assert nte.components(3) == ["a^b", "c\\T\\d&e".replace("\\T\\", "&")]
    assert nte.field(3) == "a\\S\\b^c\\T\\d&e"


@pytest.mark.parametrize("value", ["a|b^c&d~e\\f", "two\nlines", "#trunc", "plain"])
def test_escape_round_trip(value: str) -> None:
    assert unescape(escape(value, V27), V27) == value


def test_absurd_formatting_counts_are_capped() -> None:
    assert unescape("a\\.sp " + "9" * 5000 + "\\b", STANDARD) == "a" + "\n" * 99 + "b"
    assert unescape("a\\.sk 2\u00b2\\b", STANDARD) == "a b"
