"""split_messages: batch files, concatenated messages, MLLP captures."""

from __future__ import annotations

import pytest

from hl7bus.hl7 import parse_message, split_messages


def _msg(control_id: str, terminator: bytes = b"\r") -> bytes:
    segments = [
        b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|" + control_id.encode() + b"|P|2.5",
        b"PID|1||" + control_id.encode() + b"^^^HOSP^MR",
        b"OBX|1|NM|GLU^Glucose||5.5|mmol/L",
    ]
    return terminator.join(segments) + terminator


def _ids(chunks: list[bytes]) -> list[str]:
    return [parse_message(chunk).control_id for chunk in chunks]


def test_empty_and_blank() -> None:
    assert split_messages(b"") == []
    assert split_messages(b"\r\n \r\n\t") == []
    assert split_messages(b"\x0b\x1c\r") == []


def test_single_message_kept_byte_for_byte() -> None:
    data = _msg("1")
    assert split_messages(data) == [data]
    no_final = data.rstrip(b"\r")
    assert split_messages(no_final) == [no_final]


@pytest.mark.parametrize("terminator", [b"\r", b"\n", b"\r\n"])
def test_headerless_concatenation(terminator: bytes) -> None:
    data = _msg("1", terminator) + _msg("2", terminator) + terminator + _msg("3", terminator)
    chunks = split_messages(data)
    assert _ids(chunks) == ["1", "2", "3"]
    assert chunks[0] == _msg("1", terminator)


def test_batch_with_headers_and_trailers() -> None:
    data = (
        b"FHS|^~\\&|LAB|HOSP|||20240101||file1.hl7\r"
        b"BHS|^~\\&|LAB|HOSP|||20240101\r" + _msg("1") + _msg("2") + b"BTS|2\r"
        b"BHS|^~\\&|LAB|HOSP|||20240101\r" + _msg("3") + b"BTS|1\rFTS|2\r"
    )
    assert _ids(split_messages(data)) == ["1", "2", "3"]


def test_mllp_frames() -> None:
    data = b"".join(b"\x0b" + _msg(str(i)) + b"\x1c\r" for i in range(1, 4))
    chunks = split_messages(data)
    assert _ids(chunks) == ["1", "2", "3"]
    assert chunks[1] == _msg("2")


def test_mllp_frame_holding_a_batch() -> None:
    data = b"\x0bBHS|^~\\&|A\r" + _msg("1") + _msg("2") + b"BTS|2\r\x1c\r"
    assert _ids(split_messages(data)) == ["1", "2"]


def test_bom_at_start_and_between_files() -> None:
    data = b"\xef\xbb\xbf" + _msg("1", b"\n") + b"\xef\xbb\xbf" + _msg("2", b"\n")
    assert _ids(split_messages(data)) == ["1", "2"]


def test_mixed_terminators_and_blank_lines() -> None:
    data = _msg("1", b"\r\n") + b"\r\n\r\n" + _msg("2", b"\n") + b"\n\n\n" + _msg("3")
    assert _ids(split_messages(data)) == ["1", "2", "3"]


def test_text_before_first_msh_is_its_own_chunk() -> None:
    data = b"junk\rjunk\r" + _msg("1")
    chunks = split_messages(data)
    assert chunks[0] == b"junk\rjunk\r"
    assert chunks[1] == _msg("1")


def test_batch_without_msh_gives_chunk_without_msh() -> None:
    data = b"BHS|^~\\&|A\rEVN|A04|2006\rPID|1||1\rBTS|1\r"
    assert split_messages(data) == [b"EVN|A04|2006\rPID|1||1\r"]


def test_msh_word_in_free_text_does_not_split() -> None:
    data = _msg("1").replace(b"5.5", b"see note\nMSH means header\nend")
    assert len(split_messages(data)) == 1


def test_custom_field_separator() -> None:
    data = b"MSH!$r?@!LIP!LIP!LB!LB!2011!!RSP!1!D!2.5\rMSH!$r?@!LIP!LIP!LB!LB!2011!!RSP!2!D!2.5"
    assert _ids(split_messages(data)) == ["1", "2"]


def test_utf16_stream() -> None:
    text = (_msg("1") + _msg("2")).decode().replace("PID|1||1", "PID|1||Zoë")
    chunks = split_messages(text.encode("utf-16"))
    assert _ids(chunks) == ["1", "2"]
    pid = parse_message(chunks[0]).segment("PID")
    assert pid is not None and pid.get(3) == "Zoë"


def test_garbage_never_raises() -> None:
    for data in [b"\x00" * 10, b"\xff\xfe\x00", b"\x0b\x0b\x1c", b"MSH", b"\xff" * 100]:
        assert isinstance(split_messages(data), list)


def test_a_run_of_junk_across_frame_bytes_is_one_chunk() -> None:
    junk = b"\x0bnoise\x1c\x1c\x0bmore\rnoise\x0b\x1c\r\xff\x00\x0b"
    data = junk + _msg("1") + b"\x1c\r" + junk
    chunks = split_messages(data)
    assert len(chunks) == 3
    assert chunks[0] == junk.strip(b"\x0b\x1c\r")
    assert _ids(chunks[1:2]) == ["1"]
    assert chunks[2].startswith(b"noise") and b"\xff" in chunks[2]


def test_random_bytes_are_one_chunk_cut_to_a_readable_size() -> None:
    import random

    from hl7bus.hl7.batch import JUNK_KEPT

    noise = random.Random(11).randbytes(3 * 1024 * 1024)
    (chunk,) = split_messages(noise)
    assert len(chunk) == JUNK_KEPT and chunk in noise


def test_damaged_framed_messages_stay_one_chunk_each() -> None:
    """Frames that each hold something (even without MSH) between real messages are kept
    apart from the messages around them."""
    data = b"\x0b" + _msg("1") + b"\x1c\r\x0bEVN|A01\rPID|1\r\x1c\r\x0b" + _msg("2") + b"\x1c\r"
    chunks = split_messages(data)
    assert len(chunks) == 3 and chunks[1] == b"EVN|A01\rPID|1\r"
