"""Charsets: MSH-18 read from the raw bytes, honoured, and second-guessed when wrong."""

from __future__ import annotations

import pytest

from hl7bus.hl7 import DecodedText, parse_message

PID_NAME = "PID|1||1||{name}"


def _message(charset: str, name: str, encode_as: str) -> bytes:
    text = (
        f"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||XXX|{charset}\r"
        + PID_NAME.format(name=name)
        + "\r"
    )
    return text.encode(encode_as)


def _name(data: bytes, default_charset: str | None = None) -> tuple[str, DecodedText]:
    msg = parse_message(data, default_charset=default_charset)
    pid = msg.segment("PID")
    assert pid is not None
    return pid.get(5) + "^" + pid.get(5, 2), msg.text


@pytest.mark.parametrize(
    ("declared", "codec", "name", "used"),
    [
        ("ASCII", "ascii", "DOE^JOHN", "ascii"),
        ("8859/1", "iso8859-1", "MÜLLER^JOSÉ", "iso8859-1"),
        ("8859/2", "iso8859-2", "ŁUKASZ^ŻANETA", "iso8859-2"),
        ("8859/5", "iso8859-5", "ИВАНОВ^ИВАН", "iso8859-5"),
        ("8859/7", "iso8859-7", "ΠΑΠΑΣ^ΝΙΚΟΣ", "iso8859-7"),
        ("8859/15", "iso8859-15", "DUPONT^€LOÏSE", "iso8859-15"),
        ("UNICODE UTF-8", "utf-8", "Łódź^Zoë", "utf-8"),
        ("GB 18030-2000", "gb18030", "张^三", "gb18030"),
        ("GB 18030", "gb18030", "王^小明", "gb18030"),
        ("KS X 1001", "euc_kr", "홍^길동", "euc_kr"),
        ("BIG-5", "big5", "陳^大文", "big5"),
        ("ISO IR87", "iso2022_jp", "山田^太郎", "iso2022_jp_2"),
        ("UNICODE UTF-16", "utf-16", "山田^太郎", "utf-16"),
    ],
)
def test_declared_charsets(declared: str, codec: str, name: str, used: str) -> None:
    value, text = _name(_message(declared, name, codec))
    assert value == name
    assert text == DecodedText(declared=declared, used=used, note=None)


def test_japanese_second_repetition() -> None:
    value, text = _name(_message("~ISO IR87", "山田^太郎", "iso2022_jp"))
    assert value == "山田^太郎"
    assert text.used == "iso2022_jp_2"
    msg = parse_message(_message("~ISO IR87", "山田^太郎", "iso2022_jp"))
    assert msg.charset_declared == ""


def test_gb18030_bytes_without_declaration() -> None:
    value, text = _name(_message("", "张^三", "gb18030"))
    assert value == "张^三"
    assert text.used == "gb18030"
    assert text.note is not None and "MSH-18 is empty" in text.note


def test_ascii_declared_but_utf8() -> None:
    value, text = _name(_message("ASCII", "Zoë^Ana", "utf-8"))
    assert value == "Zoë^Ana"
    assert text.used == "utf-8"
    assert text.note == "MSH-18 declares ASCII but the message is UTF-8."


def test_latin1_declared_but_utf8() -> None:
    value, text = _name(_message("8859/1", "José^Ana", "utf-8"))
    assert value == "José^Ana"
    assert text.used == "utf-8"
    assert text.note is not None and "UTF-8" in text.note


def test_utf8_declared_but_latin1() -> None:
    value, text = _name(_message("UNICODE UTF-8", "MÜLLER^JOSÉ", "iso8859-1"))
    assert value == "MÜLLER^JOSÉ"
    assert text.used == "cp1252"
    assert text.note is not None and "not valid UNICODE UTF-8" in text.note


def test_latin1_undeclared_is_not_mistaken_for_gb18030() -> None:
    value, text = _name(_message("", "Müller^José", "iso8859-1"))
    assert value == "Müller^José"
    assert text.used == "cp1252"


def test_default_charset_is_tried_after_utf8() -> None:
    value, text = _name(_message("", "Müller^José", "iso8859-1"), default_charset="8859/1")
    assert value == "Müller^José"
    assert text.used == "iso8859-1"
    value, text = _name(_message("", "Ærø^Åse", "cp1252"), default_charset="cp1252")
    assert text.used == "cp1252"
    value, text = _name(_message("", "Zoë^Ana", "utf-8"), default_charset="8859/1")
    assert text.used == "utf-8"


def test_unknown_charset_name() -> None:
    value, text = _name(_message("KLINGON", "DOE^JOHN", "ascii"))
    assert value == "DOE^JOHN"
    assert text.declared == "KLINGON"
    assert text.used == "ascii"
    assert text.note is not None and "does not know" in text.note
    value, text = _name(_message("KLINGON", "Zoë^Ana", "utf-8"))
    assert (value, text.used) == ("Zoë^Ana", "utf-8")


def test_charset_without_decoder() -> None:
    _, text = _name(_message("CNS 11643-1992", "Zoë^Ana", "utf-8"))
    assert text.used == "utf-8"
    assert text.note is not None and "no decoder" in text.note


def test_undecodable_bytes_never_raise() -> None:
    data = _message("ASCII", "X^Y", "ascii").replace(b"X^Y", b"\x81\x8d\x8f\x90\x9d^\xff")
    msg = parse_message(data)
    assert msg.text.used == "iso8859-1"
    assert msg.text.note is not None


def test_utf8_bom_and_pure_ascii() -> None:
    value, text = _name(_message("", "DOE^JOHN", "ascii"))
    assert value == "DOE^JOHN"
    assert text == DecodedText(declared=None, used="ascii", note=None)
    value, text = _name(b"\xef\xbb\xbf" + _message("", "DOE^JOHN", "ascii"))
    assert text == DecodedText(declared=None, used="utf-8", note=None)


def test_wide_charset_declared_for_8bit_bytes() -> None:
    value, text = _name(_message("UNICODE UTF-16", "Zoë^Ana", "utf-8"))
    assert (value, text.used) == ("Zoë^Ana", "utf-8")
    assert text.note is not None and "not UNICODE UTF-16" in text.note


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-16", "utf-32"])
def test_wide_unicode_detected_without_declaration(codec: str) -> None:
    value, text = _name(_message("", "Łódź^Zoë", codec))
    assert value == "Łódź^Zoë"
    assert text.used.startswith(codec[:6])
