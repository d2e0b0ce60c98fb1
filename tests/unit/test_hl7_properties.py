"""Hostile input: whatever the bytes, the parser returns a Message or raises MessageError."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7 import Encoding, Message, escape, parse_message, split_messages, unescape

from paths import CORPUS, SOURCES, own_files


@pytest.fixture(scope="module", params=SOURCES)
def messages(request: pytest.FixtureRequest) -> list[bytes]:
    """Messages that parse, to damage: the project's own, or (``corpus``) the corpus's."""
    files = own_files() if request.param == "own" else sorted(CORPUS.glob("*.hl7"))
    found = []
    for path in files:
        for chunk in split_messages(path.read_bytes()):
            try:
                parse_message(chunk)
            except MessageError:
                continue
            if len(chunk) < 20_000:
                found.append(chunk)
    assert len(found) > 10, f"too few {request.param} messages parse"
    return found


SEGMENT_LINE = re.compile(rb"[A-Z][A-Z0-9]{2}(?:[|^!]|$)")

# HL7BUS_HYPOTHESIS_EXAMPLES=5000 for a deeper run; the default keeps this file to seconds.
FAST = settings(
    max_examples=int(os.environ.get("HL7BUS_HYPOTHESIS_EXAMPLES", "300")),
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TOKENS = [
    b"MSH",
    b"MSH|^~\\&|",
    b"MSH|^~\\&#|",
    b"MSH!$r?@!",
    b"|",
    b"^",
    b"~",
    b"&",
    b"\\",
    b"#",
    b"\r",
    b"\n",
    b"\r\n",
    b"\x0b",
    b"\x1c\r",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\x10",
    b"PID|",
    b"OBX|1|TX|",
    b" EVN|",
    b"FHS|^~\\&|",
    b"BHS|",
    b"BTS|1",
    b"ADT^A01",
    b"ADT_A01",
    b"2.5.1",
    b"2.3.z",
    b"ctl1",
    b"UNICODE UTF-8",
    b"8859/1",
    b"GB 18030",
    b"ISO IR87",
    b"\\X41\\",
    b"\\Xe9\\",
    b"\\.br\\",
    b"\\.sp 3\\",
    b"\\H\\",
    b"\\F\\",
    b"\xe9",
    b"\xd6\xd0",
    b"\xff\xfe",
    b"\x1b$B",
    b"WHOOPS|",
    b"abc",
    b" ",
]
hl7ish = st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join)


def _exercise(message: Message) -> None:
    """Every accessor on every segment, for every field, must answer."""
    for prop in (
        "sending_application",
        "sending_facility",
        "receiving_application",
        "receiving_facility",
        "message_datetime",
        "message_type",
        "trigger_event",
        "message_structure",
        "control_id",
        "processing_id",
        "version",
        "version_raw",
        "accept_ack_type",
        "application_ack_type",
        "charset_declared",
    ):
        assert isinstance(getattr(message, prop), str)
    for segment in message.segments:
        for n in range(min(len(segment), 40) + 2):
            segment.field(n)
            segment.repetitions(n)
            segment.components(n)
            segment.subcomponents(n, 2)
            segment.get(n, 2, 2, 1)
            segment.get(n)


def _parse_or_reject(data: bytes | str) -> Message | None:
    try:
        message = parse_message(data)
    except MessageError as error:
        assert error.code is not ErrorCode.INTERNAL, error.message
        return None
    _exercise(message)
    return message


@FAST
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    _parse_or_reject(data)
    for chunk in split_messages(data):
        assert chunk
        _parse_or_reject(chunk)


@FAST
@given(hl7ish)
def test_hl7_like_bytes(data: bytes) -> None:
    _parse_or_reject(data)
    _parse_or_reject(data.decode("latin-1"))
    for chunk in split_messages(data):
        _parse_or_reject(chunk)


@FAST
@given(st.text(max_size=500))
def test_random_text_after_msh(text: str) -> None:
    _parse_or_reject("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\r" + text)
    _parse_or_reject("MSH" + text)


@FAST
@given(st.data(), st.integers(min_value=0, max_value=20_000))
def test_truncated_messages(messages: list[bytes], data: st.DataObject, cut: int) -> None:
    message = data.draw(st.sampled_from(messages))
    _parse_or_reject(message[: cut % (len(message) + 1)])


@FAST
@given(st.data(), st.integers(min_value=0), st.binary(max_size=8))
def test_corrupted_messages(
    messages: list[bytes], data: st.DataObject, position: int, junk: bytes
) -> None:
    message = data.draw(st.sampled_from(messages))
    position %= len(message) + 1
    _parse_or_reject(message[:position] + junk + message[position + len(junk) :])


@FAST
@given(st.data())
def test_shuffled_segments(messages: list[bytes], data: st.DataObject) -> None:
    message = data.draw(st.sampled_from(messages))
    lines = message.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    shuffled = data.draw(st.permutations(lines))
    terminator = data.draw(st.sampled_from([b"\r", b"\n", b"\r\n"]))
    result = _parse_or_reject(terminator.join(shuffled))
    first = next((line for line in shuffled if line.strip()), b"")
    if not first.lstrip(b"\xef\xbb\xbf").startswith(b"MSH"):
        assert result is None
    elif result is not None:
        named = [line for line in lines if SEGMENT_LINE.match(line.lstrip(b"\xef\xbb\xbf"))]
        assert len(result.segments) == len(named)


FRAMINGS = [
    (b"", b""),
    (b"", b"\r"),
    (b"", b"\n\n"),
    (b"\x0b", b"\x1c\r"),
    (b"\xef\xbb\xbf", b"\r\n"),
]


@FAST
@given(
    st.data(),
    st.lists(st.sampled_from(FRAMINGS), min_size=6, max_size=6),
    st.booleans(),
)
def test_concatenated_messages_split_back(
    messages: list[bytes],
    pick: st.DataObject,
    framings: list[tuple[bytes, bytes]],
    batch: bool,
) -> None:
    chosen = pick.draw(st.lists(st.sampled_from(messages), min_size=1, max_size=6))
    parts = []
    for message, (before, after) in zip(chosen, framings, strict=False):
        body = message if message.endswith((b"\r", b"\n")) else message + b"\r"
        parts.append(before + body + after)
    data = b"".join(parts)
    if batch:
        data = b"FHS|^~\\&|A\rBHS|^~\\&|A\r" + data + b"\rBTS|1\rFTS|1\r"
    chunks = split_messages(data)
    assert [parse_message(c).control_id for c in chunks] == [
        parse_message(m).control_id for m in chosen
    ]


@FAST
@given(st.data(), st.integers(min_value=1, max_value=50))
def test_mllp_stream_cut_anywhere_keeps_messages(
    messages: list[bytes], data: st.DataObject, repeat: int
) -> None:
    message = data.draw(st.sampled_from(messages))
    stream = (b"\x0b" + message + b"\x1c\r") * (repeat % 4 + 1)
    chunks = split_messages(stream)
    assert len(chunks) == repeat % 4 + 1
    assert all(parse_message(c).control_id == parse_message(message).control_id for c in chunks)


delimiter = st.sampled_from(list("|^~\\&#!$?@}"))


@FAST
@given(st.text(max_size=200), delimiter, delimiter, delimiter, delimiter, delimiter)
def test_unescape_never_raises(text: str, f: str, c: str, r: str, e: str, s: str) -> None:
    encoding = Encoding(f, c, r, e, s)
    assert isinstance(unescape(text, encoding), str)
    assert isinstance(unescape(text, encoding, "gb18030"), str)


@FAST
@given(st.text(alphabet=st.characters(blacklist_characters="\r"), max_size=200))
def test_escape_round_trip(value: str) -> None:
    encoding = Encoding(truncation="#")
    written = escape(value, encoding)
    assert not any(ch in written for ch in "|^~&#\n")
    assert unescape(written, encoding) == value


HEADER = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\r"
HUGE = {
    "continuation lines": HEADER + b"OBX|1|TX|\r" + b"more text\r" * 20_000,
    "escape characters": HEADER + b"NTE|1||" + b"\\" * 100_000,
    "false escapes": HEADER + b"NTE|1||" + b"\\a" * 50_000,
    "join look-alikes": HEADER + b"NTE|1||" + b"| ABC" * 40_000,
    "blank lines": HEADER + b"\r" * 200_000,
    "many segments": HEADER + b"NTE|1|x\r" * 20_000,
    "many fields": HEADER[:-1] + b"|" * 200_000,
    "latin-1 text": HEADER + b"NTE|1||" + b"\xe9a" * 50_000,
    "one long line": b"MSH|^~\\&|" + b"A" * 500_000,
}


@pytest.mark.parametrize("data", list(HUGE.values()), ids=list(HUGE))
def test_huge_inputs_take_linear_time(data: bytes) -> None:
    started = time.perf_counter()
    message = _parse_or_reject(data)
    if message is not None:
        last = message.segments[-1]
        last.get(3)
        last.components(3)
    split_messages(data)
    assert time.perf_counter() - started < 2.0
