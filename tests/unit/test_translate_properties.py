"""Property tests of ``translate``: whatever the bytes, it returns events that survive Avro
or raises :class:`MessageError` (never another exception, never the INTERNAL code that
marks a mapper crash), and it does so quickly (a per-example deadline catches hangs).

Inputs: random bytes and text, and real messages cut at a random byte, with their segments
shuffled (MSH kept first), with junk inserted or a field replaced.  The real messages are the
project's own (``tests/messages/``, the sample feed); with ``make test-corpus``, also the
corpus's.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.records import decode, encode
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet, SenderProfile, StandardCode
from hl7bus.mapping.router import translate

REPO = Path(__file__).resolve().parents[2]
from paths import CORPUS, SOURCES, own_files  # noqa: E402


@pytest.fixture(scope="module", params=SOURCES)
def messages(request: pytest.FixtureRequest) -> list[bytes]:
    """The project's own messages, or (``corpus``) the corpus's, good and malformed."""
    if request.param == "own":
        files = own_files()
    else:
        files = sorted(CORPUS.glob("*.hl7")) + sorted((CORPUS / "malformed").glob("*.hl7"))
    found: list[bytes] = []
    for path in files:
        data = path.read_bytes()
        if len(data) <= 40_000:  # keep examples fast; big files are covered elsewhere
            found.extend(split_messages(data))
    assert len(found) > 10, f"too few {request.param} messages"
    return found


# A profile that exercises every optional path: zone, charset, key rule, codes, Z-fields.
RICH = ProfileSet(
    default=SenderProfile(
        name="rich",
        timezone="Europe/Paris",
        default_charset="cp1252",
        patient_key={"type": "MR"},
        z_segments={"ZPI.3": "language", "ZLR.2.1": "facility", "ZXT.1": "x"},
        codes={
            "observation": {"GLU": StandardCode(code="2345-7"), "HR": StandardCode(code="8867-4")}
        },
    )
)
PLAIN = ProfileSet()

# Fixed examples by default (fast, repeatable); HL7BUS_PROPERTY_EXAMPLES=5000 explores more.
_EXAMPLES = int(os.environ.get("HL7BUS_PROPERTY_EXAMPLES", "0"))
FAST = settings(
    max_examples=_EXAMPLES or 120,
    deadline=timedelta(seconds=2),
    derandomize=not _EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(data: bytes | str, profiles: ProfileSet = PLAIN) -> None:
    try:
        translation = translate(data, profiles)
    except MessageError as exc:
        assert exc.code is not ErrorCode.INTERNAL, (
            f"hl7bus crashed inside: {exc!r} <- {exc.__cause__!r}"
        )
        assert isinstance(exc.message, str) and exc.message
        exc.as_dict()  # what the ACK and the dead-letter record are built from
        return
    for event in translation.events:
        assert decode(encode(event)) == event


# --- random input ----------------------------------------------------------------------


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    check(data)


@FAST
@given(st.binary(max_size=600))
def test_random_bytes_after_a_valid_msh(tail: bytes) -> None:
    check(b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\r" + tail, RICH)


@FAST
@given(st.text(max_size=800))
def test_random_text(text: str) -> None:
    check(text)
    check("MSH|^~\\&|A|B|||20240101||ADT^A01|1|P|2.5\r" + text, RICH)


# --- real messages, damaged ----------------------------------------------------------


@FAST
@given(st.data(), st.floats(0, 1))
def test_truncated_messages(messages: list[bytes], data: st.DataObject, where: float) -> None:
    message = data.draw(st.sampled_from(messages))
    cut = message[: int(len(message) * where)]
    check(cut)
    check(cut, RICH)


@FAST
@given(st.data(), st.randoms(use_true_random=False))
def test_messages_with_segments_shuffled(messages: list[bytes], data: st.DataObject, rnd) -> None:
    message = data.draw(st.sampled_from(messages))
    lines = [line for line in re.split(rb"\r\n|\r|\n", message) if line.strip()]
    head, rest = lines[:1], lines[1:]
    rnd.shuffle(rest)
    check(b"\r".join(head + rest))
    check(b"\n".join(head + rest), RICH)


NASTY = [
    b"|",
    b"^",
    b"~",
    b"\\",
    b"&",
    b"\r",
    b"\n",
    b"\r\n",
    b"\x0b",
    b"\x1c\r",
    b"\x00",
    b"MSH|^~\\&|",
    b"FHS|",
    b"BHS|",
    b"PID|",
    b"OBX|1|NM|",
    b"MRG|",
    b"\\X",
    b"\\XFF\\",
    b"\\.br\\",
    b"\\E\\",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b'""',
    b"\xc3",
    b" OBX|",
    b"ZPI|1|2|3",
    b"99999999999999999999",
    b"-9999",
    b"+2400",
    b"\t",
]


@FAST
@given(
    st.data(),
    st.floats(0, 1),
    st.one_of(st.sampled_from(NASTY), st.binary(min_size=1, max_size=40)),
    st.integers(1, 5),
)
def test_messages_with_junk_inserted(
    messages: list[bytes], data: st.DataObject, where: float, junk: bytes, times: int
) -> None:
    message = data.draw(st.sampled_from(messages))
    at = int(len(message) * where)
    damaged = message[:at] + junk * times + message[at:]
    check(damaged)
    check(damaged, RICH)


@FAST
@given(st.data(), st.integers(0, 30), st.sampled_from(NASTY))
def test_messages_with_a_field_replaced(
    messages: list[bytes], data: st.DataObject, field: int, junk: bytes
) -> None:
    message = data.draw(st.sampled_from(messages))
    lines = re.split(rb"\r\n|\r|\n", message)
    damaged = []
    for line in lines:
        parts = line.split(b"|")
        if len(parts) > field and not line.startswith(b"MSH"):
            parts[field] = junk
        damaged.append(b"|".join(parts))
    check(b"\r".join(damaged), RICH)


def test_every_message_with_the_rich_profile(messages: list[bytes]) -> None:
    for message in messages:
        check(message, RICH)


def test_a_huge_message_translates_quickly() -> None:
    import time

    head = (
        "MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5\rPID|1||1^^^H^MR\rOBR|1|P|F|X^Y^L|||20240101\r"
    )
    obx = "".join(
        f"OBX|{i}|NM|C{i}^Code {i}^L||{i}.5|mg/dL|1-2|H|||F|||20240101120000\r"
        for i in range(20_000)
    )
    started = time.perf_counter()
    translation = translate((head + obx).encode(), RICH)  # 1.4 MB, 20 000 results
    assert len(translation.events[0].payload.observations) == 20_000
    assert time.perf_counter() - started < 10
