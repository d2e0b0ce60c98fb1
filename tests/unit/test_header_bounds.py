"""Where MSH-10 sits in a message's bytes, so that a copy can carry another control id."""

from __future__ import annotations

import pytest

from hl7bus.hl7.header import control_id_bounds, read_header

MSH = b"MSH|^~\\&|LAB|NORTH|EMR|NORTH|20261128101500||ORU^R01|MSG-00042|P|2.5.1"


@pytest.mark.parametrize("after", [b"\rPID|1||4711\r", b"\nPID|1\n", b""])
def test_the_control_id_is_found_and_can_be_replaced(after: bytes) -> None:
    raw = b"\xef\xbb\xbf" + MSH + after
    start, stop = control_id_bounds(raw)
    assert raw[start:stop] == b"MSG-00042"
    copy = raw[:start] + b"COPY-1" + raw[stop:]
    assert read_header(copy).control_id == "COPY-1"
    assert copy.endswith(b"|P|2.5.1" + after)


def test_a_last_field_control_id_runs_to_the_end_of_the_line() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|20261128||ADT^A01|LAST\rEVN|A01\r"
    start, stop = control_id_bounds(raw)
    assert raw[start:stop] == b"LAST"


@pytest.mark.parametrize(
    "raw", [b"", b"PID|1||4711\r", b"MSH|^~\\&|A|B|C|D|20261128||ADT^A01\rEVN|A01|1|2|3|4|5|6\r"]
)
def test_no_msh_10_gives_none(raw: bytes) -> None:
    assert control_id_bounds(raw) is None
