"""parse_message on hand-written messages: delimiters, separators, header fields, rejections."""

from __future__ import annotations

import pytest

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7 import Encoding, Message, Segment, parse_message

ADT = (
    "MSH|^~\\&|ADT1^1.2.3^ISO|GOOD HEALTH HOSPITAL|LAB|RECV FAC|20240102030405+0100|SEC|"
    "ADT^A01^ADT_A01|MSG00001|P^T|2.5.1|||AL|NE|USA|8859/1\r"
    "EVN|A01|20240102030000\r"
    "PID|1||PATID1234^5^M11^ADT1&1.2.3&ISO^MR~123456789^^^USSSA^SS||EVERYMAN^ADAM^A^III||"
    "19610615|M||C|2222 HOME STREET^^GREENSBORO^NC^27401-1020\r"
    "PV1|1|I|2000^2012^01||||004777^LEBAUER^SIDNEY^J.|||SUR||||ADM|A0|\r"
)


def _reject(data: bytes | str) -> MessageError:
    with pytest.raises(MessageError) as caught:
        parse_message(data)
    return caught.value


# -- header fields ---------------------------------------------------------------------


def test_header_properties() -> None:
    msg = parse_message(ADT.encode())
    assert isinstance(msg, Message)
    assert msg.sending_application == "ADT1"
    assert msg.sending_facility == "GOOD HEALTH HOSPITAL"
    assert msg.receiving_application == "LAB"
    assert msg.receiving_facility == "RECV FAC"
    assert msg.message_datetime == "20240102030405+0100"
    assert (msg.message_type, msg.trigger_event, msg.message_structure) == (
        "ADT",
        "A01",
        "ADT_A01",
    )
    assert msg.control_id == "MSG00001"
    assert msg.processing_id == "P"
    assert (msg.version, msg.version_raw) == ("2.5.1", "2.5.1")
    assert (msg.accept_ack_type, msg.application_ack_type) == ("AL", "NE")
    assert msg.charset_declared == "8859/1"
    assert msg.encoding == Encoding()
    assert [s.name for s in msg.segments] == ["MSH", "EVN", "PID", "PV1"]
    assert msg.warnings == ()


def test_hd_falls_back_to_universal_id() -> None:
    msg = parse_message("MSH|^~\\&|^2.16.840.1^ISO|^1.2.3^ISO|||2024||ORU^R01|1|P|2.5")
    assert msg.sending_application == "2.16.840.1"
    assert msg.sending_facility == "1.2.3"
    assert msg.receiving_application == ""


def test_msh_numbering() -> None:
    msh = parse_message(ADT).segment("MSH")
    assert msh is not None
    assert msh.field(1) == "|"
    assert msh.field(2) == "^~\\&"
    assert msh.get(2) == "^~\\&"
    assert msh.field(9) == "ADT^A01^ADT_A01"
    assert msh.get(9, 2) == "A01"
    assert msh.get(11, 2) == "T"
    assert msh.field(0) == "MSH"
    assert msh.field(99) == ""
    assert len(msh) == 18


# -- segment access --------------------------------------------------------------------


def test_segment_access() -> None:
    msg = parse_message(ADT)
    pid = msg.segment("PID")
    assert isinstance(pid, Segment)
    assert pid.field(3) == "PATID1234^5^M11^ADT1&1.2.3&ISO^MR~123456789^^^USSSA^SS"
    assert pid.repetitions(3) == ["PATID1234^5^M11^ADT1&1.2.3&ISO^MR", "123456789^^^USSSA^SS"]
    assert pid.get(3) == "PATID1234"
    assert pid.get(3, 4) == "ADT1"
    assert pid.get(3, 4, 2) == "1.2.3"
    assert pid.get(3, 4, 3) == "ISO"
    assert pid.get(3, 4, 4) == ""
    assert pid.get(3, 1, repetition=1) == "123456789"
    assert pid.get(3, 4, repetition=1) == "USSSA"
    assert pid.get(3, repetition=2) == ""
    assert pid.get(5, 2) == "ADAM"
    assert pid.get(5, 9) == ""
    assert pid.get(7, 2) == ""
    assert pid.get(60) == ""
    assert pid.components(5) == ["EVERYMAN", "ADAM", "A", "III"]
    assert pid.components(11) == ["2222 HOME STREET", "", "GREENSBORO", "NC", "27401-1020"]
    assert pid.components(3) == ["PATID1234", "5", "M11", "ADT1&1.2.3&ISO", "MR"]
    assert pid.subcomponents(3, 4) == ["ADT1", "1.2.3", "ISO"]
    assert pid.components(2) == []
    assert pid.repetitions(2) == []
    assert len(pid) == 11
    assert pid.raw.startswith("PID|1||PATID1234")
    assert msg.segment("OBX") is None
    assert msg.all("PV1") == [msg.segments[3]]
    assert msg.all("NTE") == []


def test_trailing_empty_components_trimmed() -> None:
    msg = parse_message("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||7^^^^MR^^^||DOE^^^^^")
    pid = msg.segment("PID")
    assert pid is not None
    assert pid.components(5) == ["DOE"]
    assert pid.components(3) == ["7", "", "", "", "MR"]


def test_get_rejects_zero_component() -> None:
    pid = parse_message(ADT).segment("PID")
    assert pid is not None
    with pytest.raises(ValueError):
        pid.get(3, 0)


# -- encoding characters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("msh_start", "expected"),
    [
        ("MSH|^~\\&|", Encoding("|", "^", "~", "\\", "&", None)),
        ("MSH|^~\\&#|", Encoding("|", "^", "~", "\\", "&", "#")),
        ("MSH|^~\\|", Encoding("|", "^", "~", "\\", None, None)),
        ("MSH|^~|", Encoding("|", "^", "~", None, None, None)),
        ("MSH|^~}|", Encoding("|", "^", "~", "}", None, None)),
        ("MSH^~|\\&^", Encoding("^", "~", "|", "\\", "&", None)),
        ("MSH!$r?@!", Encoding("!", "$", "r", "?", "@", None)),
    ],
)
def test_encoding_variants(msh_start: str, expected: Encoding) -> None:
    f = expected.field
    rest = f.join(["A", "B", "C", "D", "2024", "", "ADT" + expected.component + "A01", "9", "P"])
    msg = parse_message(f"{msh_start}{rest}{f}2.4\rPID{f}1{f}{f}77")
    assert msg.encoding == expected
    assert msg.message_type == "ADT"
    assert msg.trigger_event == "A01"
    assert msg.control_id == "9"
    assert msg.version == "2.4"
    pid = msg.segment("PID")
    assert pid is not None and pid.get(3) == "77"
    assert msg.segments[0].field(2) == expected.msh2


def test_caret_field_separator_message() -> None:
    msg = parse_message(
        "MSH^~|\\&^SENDING^200M^RECEIVING^200^20120918^^ADT~A24^2003582144^T^2.4\r"
        "PID^1^^11111~~~FOO&&0363~NI~FACILITY ID&200M&L^^SMITH~JOHN\r"
    )
    pid = msg.segment("PID")
    assert pid is not None
    assert pid.repetitions(3) == ["11111~~~FOO&&0363~NI~FACILITY ID&200M&L"]
    assert pid.get(3, 4, 3) == "0363"
    assert pid.get(5, 2) == "JOHN"


@pytest.mark.parametrize(
    ("msh", "field"),
    [
        ("MSH||A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # empty MSH-2
        ("MSH|^|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # one character
        ("MSH|^~\\&#$|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # six characters
        ("MSH|&&&&|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # duplicates
        ("MSH|^~\\\\&|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # doubled backslash
        ("MSH|^ \\&|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # space
        ("MSH|^~\\\x01|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # control character
        ('MSH|^~\\"|A|B|C|D|2024||ADT^A01|1|P|2.5', 2),  # double quote
        ("MSH|^~0&|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # digit
        ("MSH|^~é&|A|B|C|D|2024||ADT^A01|1|P|2.5", 2),  # non-ASCII
        ("MSHH^~\\&HAHBHCHDH2024HHADT^A01H1HPH2.5", 1),  # letter as field separator
        ("MSH ^~\\& A", 1),  # space as field separator
        ("MSH", 1),
        ("MSH\rPID|1", 1),
    ],
)
def test_bad_encoding_characters(msh: str, field: int) -> None:
    error = _reject(msh.encode("utf-8"))
    assert error.code is ErrorCode.BAD_ENCODING_CHARACTERS
    assert (error.segment, error.field) == ("MSH", field)


# -- separators and framing ------------------------------------------------------------


@pytest.mark.parametrize(
    "terminator",
    ["\r", "\n", "\r\n", "\n\r", "\r\r", "\n\n", "\r\n\r\n"],
    ids=["CR", "LF", "CRLF", "LFCR", "CRCR", "LFLF", "CRLFCRLF"],
)
def test_segment_terminators(terminator: str) -> None:
    text = ADT.replace("\r", terminator)
    msg = parse_message(text.encode())
    assert [s.name for s in msg.segments] == ["MSH", "EVN", "PID", "PV1"]
    assert msg.segment("PV1").get(7, 2) == "LEBAUER"  # type: ignore[union-attr]
    assert msg.warnings == ()


def test_mixed_terminators_blank_lines_no_final_terminator() -> None:
    lines = ADT.rstrip("\r").split("\r")
    text = lines[0] + "\r\n" + lines[1] + "\n\n" + lines[2] + "\r" + "   \r\n" + lines[3]
    msg = parse_message(text.encode())
    assert [s.name for s in msg.segments] == ["MSH", "EVN", "PID", "PV1"]
    assert msg.segments[-1].raw == lines[3]


def test_bom_mllp_and_trailing_whitespace() -> None:
    data = b"\x0b\xef\xbb\xbf" + ADT.encode() + b"  \r\n\t\x1c\r"
    msg = parse_message(data)
    assert msg.control_id == "MSG00001"
    assert len(msg.segments) == 4
    assert parse_message("\ufeff" + ADT).control_id == "MSG00001"


def test_leading_blank_lines() -> None:
    assert parse_message(b"\r\n\r\n" + ADT.encode()).control_id == "MSG00001"


def test_z_segments_and_single_segment_message() -> None:
    msg = parse_message(ADT + "ZPI|1|custom^value\rZ01|x")
    assert [s.name for s in msg.segments][-2:] == ["ZPI", "Z01"]
    only = parse_message("MSH!$r?@!LIP!LIP!LB!LB!20111207121030!!RSP^SLI^RSP_K11!430102!D!2.5")
    assert len(only.segments) == 1
    # '$' is this sender's component separator, so '^' is just a character here.
    assert only.message_type == "RSP^SLI^RSP_K11"
    assert only.trigger_event == ""


# -- continuation lines and rejected lines ---------------------------------------------


def test_wrapped_line_is_a_continuation() -> None:
    text = (
        "MSH|^~\\&|A|B|C|D|2024||ORM^O01|497|D|2.3\n"
        "OBR|1|363463^EPC||73610^X-RAY ANKLE|||||||||||1173^MATTHEWS|(608)258-\n"
        "8866||||||||Final\n"
        "DG1||I10|S82^ANKLE FRACTURE^I10\n"
    )
    msg = parse_message(text)
    obr = msg.segment("OBR")
    assert obr is not None
    assert obr.field(16) == "(608)258-\n8866"
    assert obr.field(24) == "Final"
    assert [s.name for s in msg.segments] == ["MSH", "OBR", "DG1"]
    assert len(msg.warnings) == 1
    assert "Line 3" in msg.warnings[0]


def test_line_feed_inside_cr_message_is_data() -> None:
    text = "MSH|^~\\&|A|B|C|D|2024||ORU^R01|1|P|2.5\rOBX|1|TX|X||first line\nsecond line||\r"
    obx = parse_message(text).segment("OBX")
    assert obx is not None
    assert obx.get(5) == "first line\nsecond line"


@pytest.mark.parametrize(
    ("line", "segment"),
    [("WHOOPS||CE|VXC8", "WHOOPS"), ("ID|1||1||Last^Jose", "ID"), ("pid|1||2", "pid")],
)
def test_bad_segment_name_is_rejected(line: str, segment: str) -> None:
    error = _reject(f"MSH|^~\\&|A|B|C|D|2024||VXU^V04|1|P|2.5.1\rPID|1\r{line}\rOBX|1")
    assert error.code is ErrorCode.SEGMENT_SEQUENCE
    assert error.segment == segment
    assert "Line 3" in error.message


def test_control_character_line_is_rejected() -> None:
    error = _reject(b"MSH|^~\\&|A|B|C|D|2024||ADT^A07|0|0|2.7\r\x10\x00||~\\0|0\r")
    assert error.code is ErrorCode.SEGMENT_SEQUENCE


@pytest.mark.parametrize(
    "text",
    [
        "MSH|^~\\&|A|1|||2005||ADT^A01|599102|P|2.3||| EVN|A01|2005||||| PID|1||10006579",
        "MSH|^~\\&|A|B|C|D|2024||ORU^R01|1|D|2.2\rOBR|1|X||||| OBX||TX|FIND|1|text| \r",
        "MSH|^~\\&|A|B|C|D|2024||MDM^T04|1|P|2.3\rTXA|1|06|FT|1095^JOHNSON^JOHN^^DO~ OBX|1|TX",
    ],
)
def test_segments_joined_by_spaces_are_rejected(text: str) -> None:
    error = _reject(text)
    assert error.code is ErrorCode.SEGMENT_SEQUENCE
    assert "joined" in error.message


def test_space_before_ordinary_value_is_fine() -> None:
    msg = parse_message("MSH|^~\\&|A|B|C|D|2024||ORU^R01|1|D|2.2\rOBX|1|ST| NEG| USA| PID")
    assert msg.segment("OBX").get(3) == " NEG"  # type: ignore[union-attr]


def test_second_msh_is_rejected() -> None:
    error = _reject(ADT + ADT)
    assert error.code is ErrorCode.SEGMENT_SEQUENCE
    assert error.segment == "MSH"


@pytest.mark.parametrize("trailer", ["BTS|1", "FTS|1", "BHS|^~\\&"])
def test_batch_segment_inside_message_is_rejected(trailer: str) -> None:
    assert _reject(ADT + trailer).code is ErrorCode.SEGMENT_SEQUENCE


# -- required fields and what is not HL7 -----------------------------------------------


@pytest.mark.parametrize(
    ("msh", "field"),
    [
        ("MSH|^~\\&|A|B|C|D|2024|||1|P|2.5", 9),
        ("MSH|^~\\&|A|B|C|D|2024||^A01|1|P|2.5", 9),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01||P|2.5", 10),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01| |P|2.5", 10),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|", 12),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P", 12),
        ("MSH|^~\\&|SendAppName", 9),
        ("MSH|^~\\&", 9),
    ],
)
def test_required_fields(msh: str, field: int) -> None:
    error = _reject(msh + "\rPID|1")
    assert error.code is ErrorCode.REQUIRED_FIELD_MISSING
    assert (error.segment, error.field) == ("MSH", field)
    assert error.as_dict()["field"] == field


def test_required_field_error_carries_control_id() -> None:
    error = _reject("MSH|^~\\&|A|B|C|D|2024||ADT^A01|CTRL9|P|")
    assert error.control_id == "CTRL9"


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n", b"\x0b\x1c\r", "", "PID|1||2", b"junk\rjunk", b"\x00\x00\x02MSH|0000|"],
)
def test_not_hl7(data: bytes | str) -> None:
    assert _reject(data).code is ErrorCode.NOT_HL7


def test_batch_header_is_not_a_message() -> None:
    error = _reject(b"FHS|^~\\&|A\rBHS|^~\\&|A\r" + ADT.encode())
    assert error.code is ErrorCode.NOT_HL7
    assert error.segment == "FHS"


def test_wrong_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_message(12)  # type: ignore[arg-type]


# -- versions and old-style message types ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "version", "version_raw"),
    [
        ("2.5^FRA^2.11", "2.5", "2.5"),
        ("2.3.z", "2.3", "2.3.z"),
        ("2.5.0", "2.5", "2.5.0"),
        ("2.9", "2.9", "2.9"),
        ("2.5.1", "2.5.1", "2.5.1"),
        ("2.3.1", "2.3.1", "2.3.1"),
        ("2.8.10000000000000000000", "2.8", "2.8.10000000000000000000"),
        (" 2.4 ", "2.4", "2.4"),
        ("V2.4", "2.4", "V2.4"),
        ("unknown", "unknown", "unknown"),
    ],
)
def test_versions(raw: str, version: str, version_raw: str) -> None:
    msg = parse_message(f"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|{raw}")
    assert (msg.version, msg.version_raw) == (version, version_raw)


def test_v21_underscore_message_type() -> None:
    msg = parse_message("MSH|^~\\&|A|B|C|D|1994||ADT_A04|1|P|2.1\rEVN|A04|1994")
    assert (msg.message_type, msg.trigger_event) == ("ADT", "A04")


def test_v21_trigger_from_evn() -> None:
    msg = parse_message("MSH|^~\\&|A|B|C|D|1994||ADT|1|P|2.1\rEVN|A08|1994")
    assert (msg.message_type, msg.trigger_event) == ("ADT", "A08")


def test_ack_without_trigger_is_accepted() -> None:
    msg = parse_message("MSH|^~\\&|A|B|C|D|1994||ACK|1|P|2.2\rMSA|AA|99")
    assert (msg.message_type, msg.trigger_event, msg.message_structure) == ("ACK", "", "")


def test_str_input() -> None:
    msg = parse_message(ADT)
    assert msg.text.used == "str"
    assert msg.text.declared == "8859/1"
    assert msg.text.note is None


def test_absurd_version_digits() -> None:
    raw = "2." + "1" * 5000
    msg = parse_message(f"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|{raw}")
    assert msg.version == raw
