"""The MLLP decoder gives the same frames however the stream is split into reads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hl7bus.mllp.framing import PREFIX_KEPT, Frame, MllpDecoder, frame

MESSAGES = [
    b"MSH|^~\\&|LAB|GENHOSP|||20261128||ORU^R01|1|P|2.5\rPID|1||123\r",
    b"MSH|^~\\&|ADT|GENHOSP|||20261128||ADT^A01|2|P|2.5\r",
    b"MSH|^~\\&|X|Y|||20261128||ADT^A08|3|P|2.5\r" + b"NTE|1||" + b"x" * 500 + b"\r",
]


def _decode_in_pieces(
    stream: bytes, cuts: list[int], limit: int = 1 << 20
) -> tuple[list[Frame], MllpDecoder]:
    decoder = MllpDecoder(limit)
    frames: list[Frame] = []
    last = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(stream))):
        frames += decoder.feed(stream[last:cut])
        last = cut
    frames += decoder.feed(stream[last:])
    return frames, decoder


def test_several_messages_in_one_read():
    frames, decoder = _decode_in_pieces(b"".join(frame(m) for m in MESSAGES), [])
    assert [f.payload for f in frames] == MESSAGES
    assert decoder.frames == 3 and decoder.skipped_bytes == 0


def test_every_split_point_of_two_frames():
    stream = frame(MESSAGES[0]) + frame(MESSAGES[1])
    for cut in range(len(stream) + 1):
        frames, _ = _decode_in_pieces(stream, [cut])
        assert [f.payload for f in frames] == MESSAGES[:2], cut


def test_one_byte_at_a_time():
    stream = b"".join(frame(m) for m in MESSAGES)
    frames, _ = _decode_in_pieces(stream, list(range(len(stream))))
    assert [f.payload for f in frames] == MESSAGES


def test_bytes_before_the_start_block_are_skipped_and_counted():
    frames, decoder = _decode_in_pieces(b"garbage\r\n" + frame(MESSAGES[0]) + b"\n\n", [])
    assert [f.payload for f in frames] == [MESSAGES[0]]
    assert decoder.skipped_bytes == len(b"garbage\r\n") + 2


def test_missing_trailing_cr_still_ends_the_frame():
    stream = b"\x0b" + MESSAGES[0] + b"\x1c" + frame(MESSAGES[1])
    frames, _ = _decode_in_pieces(stream, [])
    assert [f.payload for f in frames] == MESSAGES[:2]


def test_an_oversized_frame_keeps_only_its_start_and_the_stream_goes_on():
    big = b"MSH|^~\\&|BIG|X|||20261128||ORU^R01|9|P|2.5\r" + b"OBX|" + b"9" * 100_000 + b"\r"
    frames, decoder = _decode_in_pieces(
        frame(big) + frame(MESSAGES[1]), [1000, 50_000, 99_000], limit=10_000
    )
    assert len(frames) == 2
    assert frames[0].oversized and frames[0].size == len(big)
    assert frames[0].payload == big[:PREFIX_KEPT]
    assert frames[1] == Frame(MESSAGES[1], size=len(MESSAGES[1]))
    assert not decoder.in_frame


def test_an_incomplete_frame_is_reported_pending():
    decoder = MllpDecoder(1000)
    assert decoder.feed(b"\x0bMSH|^~\\&|") == []
    assert decoder.in_frame and decoder.pending_bytes == 9


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(
        st.binary(max_size=300).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")),
        min_size=1,
        max_size=5,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
    junk=st.binary(max_size=40).map(lambda b: b.replace(b"\x0b", b"")),
)
def test_any_split_of_any_stream_gives_the_same_frames(messages, cuts, junk):
    stream = junk + b"".join(frame(m) for m in messages)
    frames, decoder = _decode_in_pieces(stream, cuts)
    assert [f.payload for f in frames] == messages
    assert decoder.skipped_bytes == len(junk)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=20))
def test_random_bytes_never_raise_and_never_exceed_the_limit(data, cuts):
    frames, _ = _decode_in_pieces(data, cuts, limit=500)
    for f in frames:
        assert len(f.payload) <= 500 or (f.oversized and len(f.payload) <= PREFIX_KEPT)
