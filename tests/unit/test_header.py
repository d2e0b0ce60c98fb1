"""One reader of the message header: the raw record, the dead letter, the events, the ACK
and the record keys all name a message the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7 import parse_message, split_messages
from hl7bus.hl7.header import Header, read_header
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate
from hl7bus.mllp.ack import AckCode, build_ack

from paths import CORPUS, REPO

OWN = sorted((REPO / "tests" / "messages").glob("*.hl7")) + sorted(
    (REPO / "hl7bus" / "samples" / "feed").glob("*.hl7")
)

ISO_FACILITY = (
    b"MSH|^~\\&|LABSYS^1.2.3^ISO|^2.16.840.1.113883.19^ISO|EMR||20261128101500-0500||"
    b"ORU^R01^ORU_R01|ISO-1|P|2.5.1\r"
    b"PID|1||4711^^^NORTHWIND^MR||Doe^Jane\r"
    b"OBR|1||F-1|2823-3^Potassium^LN\r"
    b"OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|||||F\r"
)

_COMPARED = tuple(f for f in Header.__dataclass_fields__ if f not in ("as_written",))


def _interpreted(header: Header) -> dict[str, str]:
    return {name: getattr(header, name) for name in _COMPARED}


def test_a_facility_given_only_as_a_universal_id_is_that_id_everywhere() -> None:
    raw = read_header(ISO_FACILITY)
    assert raw.sending_facility == "2.16.840.1.113883.19"
    assert raw.sending_application == "LABSYS"
    assert raw.key == b"2.16.840.1.113883.19|ISO-1"
    events = translate(ISO_FACILITY, ProfileSet()).events
    assert {e.source.sending_facility for e in events} == {"2.16.840.1.113883.19"}


def test_the_ack_echoes_the_whole_hd_fields_swapped() -> None:
    ack = build_ack(
        read_header(ISO_FACILITY),
        AckCode.ACCEPT,
        now=datetime(2026, 11, 28, tzinfo=UTC),
        ack_control_id="A1",
    )
    msh = ack.split(b"\r")[0].split(b"|")
    assert msh[2:6] == [b"EMR", b"", b"LABSYS^1.2.3^ISO", b"^2.16.840.1.113883.19^ISO"]
    assert ack.split(b"\r")[1] == b"MSA|AA|ISO-1"


def test_escapes_and_old_style_types_and_evn_triggers_are_read_once() -> None:
    raw = b"MSH|^~\\&|A\\T\\B|FAC|||20261128||ADT|C-1|P|2.3.z\rEVN|A08|20261128\rPID|1||9^^^X^MR\r"
    header = read_header(raw)
    assert (header.sending_application, header.message_type, header.trigger_event) == (
        "A&B",
        "ADT",
        "A08",
    )
    assert (header.version_raw, header.version) == ("2.3.z", "2.3")
    assert _interpreted(header) == _interpreted(parse_message(raw).header)
    old = read_header(b"MSH|^~\\&|A|F|||20261128||ADT_A01|C-2|P|2.1\r")
    assert (old.message_type, old.trigger_event) == ("ADT", "A01")


def test_a_damaged_header_is_read_as_far_as_it_goes() -> None:
    assert read_header(b"\x00\x01garbage") == Header()
    damaged = read_header(b"MSH|\x01\x02|APP|FAC|||20261128||ADT^A01|C-3|P|2.5\r")
    assert (damaged.sending_facility, damaged.control_id) == ("FAC", "C-3")
    assert damaged.encoding_characters == "^~\\&"


def _agree(chunk: bytes) -> None:
    header = read_header(chunk)
    try:
        message = parse_message(chunk)
    except MessageError:
        return  # unreadable: only the lenient reader has something to say
    assert _interpreted(header) == _interpreted(message.header)
    try:
        events = translate(chunk, ProfileSet()).events
    except MessageError as exc:
        assert exc.code is not ErrorCode.INTERNAL
        return
    for event in events:
        source = event.source
        assert source.sending_facility == (header.sending_facility or None)
        assert source.sending_application == (header.sending_application or None)
        assert source.message_control_id == header.control_id
        assert source.message_type == header.message_type
        assert source.trigger_event == (header.trigger_event or None)
        assert source.version == (header.version or None)


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.name)
def test_the_header_readers_agree_on_the_projects_own_messages(path) -> None:
    for chunk in split_messages(path.read_bytes()):
        _agree(chunk)


@pytest.mark.corpus
def test_the_header_readers_agree_on_every_corpus_file() -> None:
    files = sorted(CORPUS.rglob("*.hl7")) + sorted(CORPUS.rglob("*.txt"))
    assert len(files) > 200
    for path in files:
        for chunk in split_messages(path.read_bytes()):
            _agree(chunk)
