"""The MLLP connector's acknowledgements: MSA echoes the message's control id, the code says
what became of the message by the ACK policy (README, "ACK policy"; HL7 v2 chapter 2), the
ERR segment says why and whether a resend can help, a sender profile may change the code,
and even a message with a damaged MSH gets an ACK that both hl7bus and python-hl7 can
read."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hl7bus.connectors.mllp import server as mllp_server
from hl7bus.connectors.mllp.server import MllpServer
from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7 import Message, parse_message, split_messages
from hl7bus.hl7.header import read_header
from hl7bus.ingest.records import Ingestor, SchemaIds, Stored
from hl7bus.kafka.producer import StoreError
from hl7bus.kafka.serde import schema_text
from hl7bus.kafka.topics import Topics
from hl7bus.logs import JsonFormatter
from hl7bus.mapping import router
from hl7bus.mapping.profiles import AckCodes, ProfileSet, SenderProfile, load_profiles
from hl7bus.mapping.router import translate
from hl7bus.metrics import ConnectorMetrics
from hl7bus.mllp.ack import OUTCOMES, POLICY, AckCode, Outcome, ack_code, build_ack
from hl7bus.mllp.framing import Frame, MllpDecoder, frame
from hl7bus.settings import MllpSettings

from paths import CORPUS, REPO, own_files

NOW = datetime(2026, 11, 28, 10, 15, tzinfo=UTC)

ADMIT = (
    b"MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|HL7BUS|HUB|20261128101500+0100||ADT^A01^ADT_A01|"
    b"MSG00001|P|2.5.1\r"
    b"EVN|A01|20261128101500+0100\r"
    b"PID|1||PATID1234^^^GOOD HEALTH HOSPITAL^MR||EVERYMAN^ADAM^A||19610615|M\r"
    b"PV1|1|I|2000^2012^01||||004777^ATTEND^AARON^A\r"
)


def _with_msh(message: bytes, n: int, value: bytes) -> bytes:
    """``message`` with MSH-``n`` set to ``value`` (``|`` separated messages only)."""
    head, _, rest = message.partition(b"\r")
    fields = head.split(b"|")
    fields += [b""] * (n - len(fields))
    fields[n - 1] = value
    return b"|".join(fields) + b"\r" + rest


def ack_for(raw: bytes, error: MessageError | None = None, code: AckCode | None = None) -> bytes:
    header = read_header(raw)
    return build_ack(
        header, code or ack_code(header, error), now=NOW, ack_control_id="ACK0001", error=error
    )


def read_both(ack: bytes) -> tuple[Message, hl7.Message]:
    """The ACK read by hl7bus's parser and by python-hl7; both must accept it."""
    ours = parse_message(ack)
    theirs = hl7.parse(ack.decode("latin-1"))
    assert ours.message_type == "ACK"
    assert str(theirs.segment("MSH")[9]).startswith("ACK")
    assert [s.name for s in ours] == [str(s[0]) for s in theirs]
    return ours, theirs


def msa(ack: bytes) -> tuple[str, str]:
    ours, theirs = read_both(ack)
    segment = ours.segment("MSA")
    assert segment is not None
    assert str(theirs.segment("MSA")[1]) == segment.get(1)
    return segment.get(1), segment.get(2)


# -- MSA-2 echoes MSH-10 ------------------------------------------------------------------------


def _msh_line(raw: bytes) -> bytes:
    start = raw.find(b"MSH")
    line = raw[start:]
    for stop in (b"\r", b"\n"):
        line = line.split(stop, 1)[0]
    return line


CORPUS_FILES = sorted(p for p in CORPUS.rglob("*.hl7"))


def _every_message() -> list[pytest.ParameterSet]:
    """Each of the project's own messages (split out of its file), then each corpus file as
    it is (marked ``corpus``)."""
    own = [
        pytest.param(chunk, id=f"{path.name}#{n}")
        for path in own_files()
        for n, chunk in enumerate(split_messages(path.read_bytes()), 1)
    ]
    corpus = [
        pytest.param(path, id=path.name[:60], marks=pytest.mark.corpus) for path in CORPUS_FILES
    ]
    return own + corpus


@pytest.mark.corpus
def test_the_corpus_is_there():
    assert len(CORPUS_FILES) > 250


@pytest.mark.parametrize("message", _every_message())
def test_msa2_echoes_the_control_id_of_every_message(message: bytes | Path):
    raw = message.read_bytes() if isinstance(message, Path) else message
    try:
        message: Message | None = parse_message(raw)
    except MessageError:
        message = None
    error = MessageError(ErrorCode.DATA_TYPE, "PID-7 is not a date.", segment="PID", field=7)
    for ack in (ack_for(raw), ack_for(raw, error)):
        code, echoed = msa(ack)
        assert code in {"AA", "CA", "AE", "CE"}
        if message is None:
            continue
        # Same value as the real parser reads, and the same bytes as the sender wrote.
        assert echoed == message.control_id
        sep = _msh_line(raw)[3:4]
        msh10 = _msh_line(raw).split(sep)[9].split(message.encoding.component.encode())[0]
        msa_line = ack.split(b"\r")[1]
        assert msa_line.split(sep)[2] == msh10.strip()


CONTROL_ID_CHARS = st.characters(
    min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="|^~\\&"
)


@settings(max_examples=200, deadline=None)
@given(control_id=st.text(CONTROL_ID_CHARS, min_size=1, max_size=40).map(str.strip).filter(bool))
def test_msa2_echoes_any_plain_control_id(control_id: str):
    raw = _with_msh(ADMIT, 10, control_id.encode())
    for error in (None, MessageError(ErrorCode.INTERNAL, "mapping failed")):
        _, echoed = msa(ack_for(raw, error))
        assert echoed == control_id


def test_non_ascii_header_fields_are_echoed_byte_for_byte():
    """A UTF-8 feed from the HÔPITAL gets back its own bytes, not a re-encoded copy."""
    raw = _with_msh(_with_msh(ADMIT, 4, "HÔPITAL".encode()), 10, "CTRL-É1".encode())
    ack = ack_for(raw)
    msh, msa_line = ack.split(b"\r")[:2]
    assert msh.split(b"|")[5] == "HÔPITAL".encode()
    assert msa_line.split(b"|")[2] == "CTRL-É1".encode()
    latin1 = _with_msh(ADMIT, 10, "CTRL-É1".encode("latin-1"))
    assert ack_for(latin1).split(b"\r")[1].split(b"|")[2] == "CTRL-É1".encode("latin-1")


def test_an_escaped_control_id_is_echoed_as_written():
    raw = _with_msh(ADMIT, 10, b"A\\T\\B")
    ack = ack_for(raw)
    assert ack.split(b"\r")[1] == b"MSA|AA|A\\T\\B"
    assert msa(ack)[1] == parse_message(raw).control_id == "A&B"


def test_the_ack_header_answers_the_sender():
    ours, theirs = read_both(ack_for(ADMIT))
    assert (ours.sending_application, ours.sending_facility) == ("HL7BUS", "HUB")
    assert (ours.receiving_application, ours.receiving_facility) == ("ADT1", "GOOD HEALTH HOSPITAL")
    assert ours.msh.get(9, 1) == "ACK" and ours.msh.get(9, 2) == "A01"
    assert ours.control_id == "ACK0001"
    assert ours.msh.get(11) == "P" and ours.msh.get(12) == "2.5.1"
    assert ours.message_datetime == "20261128101500+0000"
    assert str(theirs.segment("MSH")[10]) == "ACK0001"


# -- AA / CA and the enhanced mode ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("msh15", "accepted", "rejected", "error"),
    [
        (b"", "AA", "AR", "AE"),
        (b"AL", "CA", "CR", "CE"),
        (b"ER", "CA", "CR", "CE"),
        (b"SU", "CA", "CR", "CE"),
        # MSH-15 NE: the sender wants no accept (commit) ACK, so it gets the application ACK.
        (b"NE", "AA", "AR", "AE"),
    ],
)
def test_original_and_enhanced_mode(msh15: bytes, accepted: str, rejected: str, error: str):
    raw = _with_msh(_with_msh(ADMIT, 15, msh15), 16, b"AL")
    assert msa(ack_for(raw)) == (accepted, "MSG00001")
    reject = MessageError(ErrorCode.UNSUPPORTED_MESSAGE_TYPE, "not translated")
    assert msa(ack_for(raw, reject)) == (rejected, "MSG00001")
    failure = MessageError(ErrorCode.REQUIRED_FIELD_MISSING, "PID-3 is empty.")
    assert msa(ack_for(raw, failure)) == (error, "MSG00001")


# -- the ACK policy: AR, rejected for its header or for hl7bus's own failure; AE, its content ---


def _translation_error(raw: bytes) -> MessageError:
    with pytest.raises(MessageError) as caught:
        translate(raw, load_profiles([]))
    return caught.value


def _err(ack: bytes):
    err = parse_message(ack).segment("ERR")
    assert err is not None
    return err


def test_an_msh_9_that_is_no_message_type_is_rejected_with_where_and_why():
    raw = _with_msh(ADMIT, 9, b"ZZZZ^Z01")
    error = _translation_error(raw)
    assert error.code is ErrorCode.UNSUPPORTED_MESSAGE_TYPE
    ack = ack_for(raw, error)
    assert msa(ack) == ("AR", "MSG00001")
    ours, theirs = read_both(ack)
    err = ours.segment("ERR")
    assert err is not None
    assert (err.get(2, 1), err.get(2, 2), err.get(2, 3)) == ("MSH", "1", "9")
    assert (err.get(3, 1), err.get(3, 2), err.get(3, 3)) == (
        "200",
        "unsupported message type",
        "HL70357",
    )
    assert err.get(4) == "E"
    assert "ZZZZ^Z01" in err.get(8)  # unescaped back from \S\
    assert "ZZZZ\\S\\Z01" in str(theirs.segment("ERR")[8])


def test_a_type_without_a_mapper_is_accepted_not_rejected():
    raw = _with_msh(ADMIT, 9, b"ZZZ^Z01")
    translation = translate(raw, load_profiles([]))
    assert translation.events == [] and not translation.mapped
    assert msa(ack_for(raw)) == ("AA", "MSG00001")
    assert parse_message(ack_for(raw)).segment("ERR") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"PID|1||PATID1234^^^GOOD HEALTH HOSPITAL^MR||EVERYMAN^ADAM\r",
        b"this is not HL7 at all",
        b"\x00\x01\x02\xff\xfe",
        b"",
    ],
)
def test_what_is_not_hl7_is_rejected(raw: bytes):
    error = _translation_error(raw)
    assert error.code is ErrorCode.NOT_HL7
    ack = ack_for(raw, error)
    assert msa(ack) == ("AR", "")
    err = _err(ack)
    assert err.get(3, 1) == "100" and err.get(4) == "E"
    assert err.get(3, 2) == "not an HL7 message"


@pytest.mark.parametrize(
    ("code", "condition"),
    [
        (ErrorCode.SEGMENT_SEQUENCE, "100"),
        (ErrorCode.REQUIRED_FIELD_MISSING, "101"),
        (ErrorCode.DATA_TYPE, "102"),
        (ErrorCode.TABLE_VALUE, "103"),
        (ErrorCode.CHARSET, "102"),
    ],
)
def test_a_content_error_is_AE_and_final(code: ErrorCode, condition: str):
    """HL7 v2 chapter 2: AE, the sender corrects the message before sending it again; a
    resend as it is would fail the same way."""
    error = MessageError(code, "something specific", segment="PID", field=3)
    for msh15, expected in ((b"", "AE"), (b"AL", "CE")):
        ack = ack_for(_with_msh(ADMIT, 15, msh15), error)
        assert msa(ack) == (expected, "MSG00001")
        err = _err(ack)
        assert (err.get(3, 1), err.get(3, 2), err.get(4)) == (condition, code.text, "E")


@pytest.mark.parametrize(
    ("raw", "code", "condition", "field"),
    [
        (_with_msh(ADMIT, 12, b"3.0"), ErrorCode.UNSUPPORTED_VERSION, "203", "12"),
        (_with_msh(ADMIT, 11, b"N"), ErrorCode.UNSUPPORTED_PROCESSING_ID, "202", "11"),
    ],
)
def test_a_version_or_processing_id_hl7bus_does_not_accept_is_AR_or_CR(
    raw: bytes, code: ErrorCode, condition: str, field: str
):
    error = _translation_error(raw)
    assert error.code is code
    for msh15, expected in ((b"", "AR"), (b"AL", "CR"), (b"NE", "AR")):
        ack = ack_for(_with_msh(raw, 15, msh15), error)
        assert msa(ack) == (expected, "MSG00001")
        err = _err(ack)
        assert (err.get(2, 1), err.get(2, 3)) == ("MSH", field)
        assert (err.get(3, 1), err.get(3, 2), err.get(4)) == (condition, code.text, "E")


@pytest.mark.parametrize(("msh15", "expected"), [(b"", "AR"), (b"AL", "CE")])
def test_an_internal_error_is_a_reject_so_the_sender_does_not_resend(msh15, expected):
    error = MessageError(ErrorCode.INTERNAL, "hl7bus failed while processing this message.")
    ack = ack_for(_with_msh(ADMIT, 15, msh15), error)
    assert msa(ack) == (expected, "MSG00001")
    err = _err(ack)
    assert (err.get(3, 1), err.get(3, 2), err.get(4)) == ("207", "application internal error", "E")


@pytest.mark.parametrize(("msh15", "expected"), [(b"", "AR"), (b"AL", "CE"), (b"SU", "CE")])
@pytest.mark.parametrize(
    ("version", "severity"), [(b"2.8", "F"), (b"2.6", "F"), (b"2.5.1", "E"), (b"2.3", "E")]
)
def test_a_store_failure_says_resend_it_unchanged(msh15, expected, version, severity):
    """Not stored: AR (a failure unrelated to the message's content) or CE (it cannot be
    accepted now), ERR-3 206 (the storage could not take it) and ERR-4 F (not processed;
    table 0516 has F from v2.6, E before): the one answer after which a sender sends the
    same message again."""
    error = StoreError("Kafka did not acknowledge the message within 3 s.")
    ack = ack_for(_with_msh(_with_msh(ADMIT, 15, msh15), 12, version), error)
    assert msa(ack) == (expected, "MSG00001")
    err = _err(ack)
    assert (err.get(3, 1), err.get(3, 2), err.get(3, 3)) == ("206", "not stored", "HL70357")
    assert err.get(4) == severity
    assert err.get(8) == "Kafka did not acknowledge the message within 3 s."
    assert err.get(2) == ""  # no location: the message is fine


@pytest.mark.parametrize(("msh15", "expected"), [(b"", "AR"), (b"AL", "CE")])
def test_a_message_too_large_is_rejected_as_final(msh15, expected):
    error = MessageError(ErrorCode.MESSAGE_TOO_LARGE, "The message is 9000000 bytes, more.")
    ack = ack_for(_with_msh(ADMIT, 15, msh15), error)
    assert msa(ack) == (expected, "MSG00001")
    err = _err(ack)
    assert (err.get(3, 1), err.get(3, 2), err.get(4)) == ("104", "message too large", "E")


def test_every_error_code_has_an_outcome_and_every_outcome_an_answer():
    assert set(OUTCOMES) == set(ErrorCode)
    assert set(POLICY) == set(Outcome)
    resendable = {o for o, answer in POLICY.items() if answer.resend}
    assert resendable == {Outcome.STORE_FAILED}
    assert {POLICY[o].severity for o in resendable} == {"F"}
    final = set(Outcome) - resendable - {Outcome.STORED}
    assert {POLICY[o].severity for o in final} == {"E"}
    # ERR-3 alone tells them apart too: 206 only for a message that was not stored.
    assert [c for c in ErrorCode if c.hl7_condition == 206] == [ErrorCode.STORE_FAILED]


# -- the policy as the README writes it: each row, as an ACK ----------------------------------


def _readme_policy() -> list[dict[str, str]]:
    """The rows of the README's ACK policy table, by column."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("#### ACK policy", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    head = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(dict(zip(head, cells, strict=True)))
    return rows


README_ROWS = _readme_policy()


def _codes(cell: str) -> set[str]:
    return set(re.findall(r"`([A-Z0-9]+)`", cell))


def _first_code(cell: str) -> str:
    return re.findall(r"`([A-Z0-9]+)`", cell)[0]


def test_the_readme_has_a_row_for_every_outcome():
    keys = [re.sub(r"[`()]", "", row["`[ack]` key"]).split()[0] for row in README_ROWS]
    assert sorted(keys) == sorted(o.value for o in Outcome)


def _example_error(outcome: Outcome) -> MessageError | None:
    if outcome is Outcome.STORED:
        return None
    code = next(c for c, o in OUTCOMES.items() if o is outcome)
    if code is ErrorCode.STORE_FAILED:
        return StoreError("Kafka did not acknowledge the message within 10 s.")
    return MessageError(code, f"an example of {outcome.value}", segment="MSH", field=9)


@pytest.mark.parametrize(
    "row", README_ROWS, ids=[row["`[ack]` key"].strip("`") for row in README_ROWS]
)
def test_each_row_of_the_readme_policy_is_what_the_ack_says(row: dict[str, str]):
    outcome = Outcome(re.sub(r"[`()]", "", row["`[ack]` key"]).split()[0])
    error = _example_error(outcome)
    for msh15, column in ((b"", "ACK"), (b"AL", "enhanced (MSH-15 AL/ER/SU)")):
        ack = ack_for(_with_msh(ADMIT, 15, msh15), error)
        assert _codes(row[column]) == {msa(ack)[0]}, (outcome, column)
    v28 = _with_msh(ADMIT, 12, b"2.8")
    err = parse_message(ack_for(v28, error)).segment("ERR")
    if error is None:
        assert err is None and row["ERR-3 (table 0357)"] == "—" and row["ERR-4"] == "—"
        return
    conditions = {str(c.hl7_condition) for c, o in OUTCOMES.items() if o is outcome}
    assert _codes(row["ERR-3 (table 0357)"]) == conditions
    assert err.get(3, 1) in conditions
    assert _first_code(row["ERR-4"]) == err.get(4)
    before_v26 = parse_message(ack_for(ADMIT, error)).segment("ERR").get(4)
    assert before_v26 == ("E" if "before v2.6" in row["ERR-4"] else err.get(4))
    assert row["the sender"].startswith("resends") == POLICY[outcome].resend


# -- a sender profile may need other codes --------------------------------------------------------

LEGACY = SenderProfile(
    name="legacy-lab",
    match={"sending_application": "ADT1"},
    ack=AckCodes(store_failed="AE", content_error="AR"),
)


@pytest.mark.parametrize(
    ("error", "msh15", "expected"),
    [
        (StoreError("Kafka did not acknowledge the message within 3 s."), b"", "AE"),
        (StoreError("Kafka did not acknowledge the message within 3 s."), b"AL", "CE"),
        (MessageError(ErrorCode.REQUIRED_FIELD_MISSING, "PID-3 is empty."), b"", "AR"),
        (MessageError(ErrorCode.REQUIRED_FIELD_MISSING, "PID-3 is empty."), b"AL", "CR"),
        # What the profile does not name keeps the policy's code.
        (MessageError(ErrorCode.INTERNAL, "hl7bus failed."), b"", "AR"),
        (None, b"", "AA"),
        (None, b"AL", "CA"),
    ],
)
def test_a_profile_overrides_the_code_of_an_outcome(error, msh15, expected):
    header = read_header(_with_msh(ADMIT, 15, msh15))
    assert ack_code(header, error, LEGACY.ack.overrides()).value == expected


def test_an_override_keeps_err_3_and_err_4():
    error = StoreError("Kafka did not acknowledge the message within 3 s.")
    v28 = _with_msh(ADMIT, 12, b"2.8")
    ack = ack_for(v28, error, ack_code(read_header(v28), error, LEGACY.ack.overrides()))
    assert msa(ack) == ("AE", "MSG00001")
    err = _err(ack)
    assert (err.get(3, 1), err.get(4)) == ("206", "F")


def test_the_override_keys_are_the_outcomes():
    assert set(AckCodes.model_fields) == {o.value for o in Outcome} - {"stored"}


def test_a_required_field_error_from_the_parser_names_its_field():
    raw = _with_msh(ADMIT, 12, b"")
    error = _translation_error(raw)
    assert error.code is ErrorCode.REQUIRED_FIELD_MISSING
    ack = ack_for(raw, error)
    assert msa(ack) == ("AE", "MSG00001")
    err = parse_message(ack).segment("ERR")
    assert err is not None
    assert (err.get(2, 1), err.get(2, 3), err.get(3, 1)) == ("MSH", "12", "101")
    # ERR-1, for v2.3/v2.4 readers: segment^sequence^field^code&text&table.
    assert (err.get(1, 1), err.get(1, 3)) == ("MSH", "12")
    assert (err.get(1, 4, 1), err.get(1, 4, 2), err.get(1, 4, 3)) == (
        "101",
        "required field missing",
        "HL70357",
    )


# -- escaping of our own text --------------------------------------------------------------------

NASTY = "Value |a| ^b^ ~c~ \\d\\ &e& ended\rwith a CR\nand a LF"


@pytest.mark.parametrize(
    "raw",
    [
        ADMIT,
        ADMIT.replace(b"|", b"!"),
        _with_msh(ADMIT, 2, b"^~\\&#"),
        _with_msh(ADMIT, 2, b"$%*@"),
    ],
)
def test_error_text_is_escaped_for_the_message_s_own_delimiters(raw: bytes):
    error = MessageError(ErrorCode.DATA_TYPE, NASTY, segment="PID", field=7)
    ack = ack_for(raw, error)
    ours, theirs = read_both(ack)
    err = ours.segment("ERR")
    assert err is not None
    expected = NASTY.replace("\r", " ").replace("\n", " ")
    assert err.get(8) == expected
    assert ours.segment("MSA").get(3) == expected
    assert len(ours.segment("MSA")) == 3 and len(err) == 8  # nothing split off
    assert len(theirs.segment("ERR")) == 9  # python-hl7 counts the name
    assert theirs.unescape(str(theirs.segment("ERR")[8])) == expected
    assert ack.count(b"\r") == 3 and b"\n" not in ack


def test_non_ascii_in_our_text_cannot_break_the_ack():
    error = MessageError(ErrorCode.DATA_TYPE, "Wert „Müller“ ist kein Datum — 日本")
    ack = ack_for(ADMIT, error)
    assert ack.isascii()
    assert parse_message(ack).segment("ERR").get(8).startswith("Wert ?M?ller? ist")


# -- damaged headers still get an ACK that parses -----------------------------------------------


DAMAGED = [
    # (id, raw, the control id the ACK must echo)
    ("msh-only", b"MSH", ""),
    ("msh-and-separator", b"MSH|", ""),
    ("msh-2-only", b"MSH|^~\\&", ""),
    ("fields-missing", b"MSH|^~\\&|LAB|HOSP", ""),
    ("no-msh-12", b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|C-12\rPID|1", "C-12"),
    ("bang-separator", b"MSH!^~\\&!LAB!HOSP!!!20240101!!ADT^A01!C-BANG!P!2.3\rPID!1", "C-BANG"),
    ("bang-and-pipes", b"MSH!^~\\&!L|A|B!HOSP!!!20240101!!ADT^A01!C|1!P!2.3", "C|1"),
    ("five-char-msh2", b"MSH|^~\\&#|LAB|HOSP|||20240101||ADT^A04|C-5|P|2.7|||AL|NE", "C-5"),
    ("two-char-msh2", b"MSH|^~|LAB|HOSP|||20240101||ADT^A04|C-2|P|2.5", "C-2"),
    ("repeated-msh2", b"MSH|^^^^|LAB|HOSP|||20240101||ADT^A04|C-R|P|2.5", "C-R"),
    ("empty-msh2", b"MSH||LAB|HOSP|||20240101||ADT^A04|C-E|P|2.5", "C-E"),
    ("quote-in-msh2", b'MSH|^~\\"|LAB|HOSP|||20240101||ADT^A44|C-Q|P|2.7', "C-Q"),
    ("space-in-msh2", b"MSH|^ \\E|LAB|HOSP|||20240101||ADT^A40|C-S|P|2.4", "C-S"),
    ("control-in-msh2", b"MSH|^\x01\\0|LAB|HOSP|||20240101||ADT^A40|C-X|P|2.2", "C-X"),
    ("non-ascii-msh2", b"MSH|^\xff\x80&|LAB|HOSP|||20240101||ADT^A20|C-N|P|2.7", "C-N"),
    (
        "control-separator",
        b"MSH\x01^~\\&\x01A|B^C\x01HOSP\x01\x01\x0120240101\x01\x01ADT^A01\x01C|9\x01P\x012.5",
        "C|9",
    ),
    ("digit-separator", b"MSH1^~\\&1LAB1HOSP", ""),
    ("letter-separator", b"MSHA^~\\&ALAB", ""),
    ("reordered-msh2", b"MSH|\\&~^|LAB|HOSP|||20240101||ADT\\A01|C-O|P|2.5", "C-O"),
    (
        "bom-and-blank-lines",
        b"\xef\xbb\xbf\r\n\r\nMSH|^~\\&|LAB|HOSP|||20240101||ADT^A01|C-B|P|2.5",
        "C-B",
    ),
    ("no-msh-at-all", b"PID|1||123^^^HOSP^MR||DOE^JOHN", ""),
    ("empty", b"", ""),
    ("garbage", bytes(range(256)) * 3, ""),
    ("vt-inside", b"MSH|^~\\&|\x0bLAB|HOSP|||20240101||ADT^A01|C-VT|P|2.5", "C-VT"),
]


@pytest.mark.parametrize(
    ("raw", "control_id"), [(r, c) for _, r, c in DAMAGED], ids=[i for i, _, _ in DAMAGED]
)
def test_a_damaged_header_still_gets_an_ack_that_parses(raw: bytes, control_id: str):
    try:
        translate(raw, load_profiles([]))
        error = None
    except MessageError as exc:
        error = exc
    for err in {error, MessageError(ErrorCode.NOT_HL7, "no | MSH ^ here"), None}:
        ack = ack_for(raw, err)
        assert ack.endswith(b"\r")
        code, echoed = msa(ack)
        assert echoed == control_id
        if err is not None:
            assert code in {"AR", "AE", "CR", "CE"}
            ours, _ = read_both(ack)
            assert ours.segment("ERR").get(3, 3) == "HL70357"
            text = err.message.replace("\r", " ").encode("ascii", "replace").decode()
            assert ours.segment("ERR").get(8) == text
            # ERR-1 never borrows a character the message uses as something else.
            assert ours.segment("ERR").get(3, 1) == str(err.code.hl7_condition)


def test_three_encoding_characters_give_an_err_1_without_subcomponents():
    """With MSH-2 ``^~\\`` there is no subcomponent separator to write ERR-1's code with;
    ``&`` would be read as data, or (MSH-2 ``~\\&``) as the escape character."""
    for msh2 in (b"^~\\", b"~\\&"):
        raw = _with_msh(ADMIT, 2, msh2)
        error = MessageError(ErrorCode.DATA_TYPE, "PID-7 is not a date.", segment="PID", field=7)
        ack = ack_for(raw, error)
        ours, _ = read_both(ack)
        err = ours.segment("ERR")
        comp = msh2[:1].decode()
        assert err.field(1) == comp.join(["PID", "1", "7", "102"])
        assert err.get(3, 1) == "102"


# -- the connector's handle(): store first, then the ACK -----------------------------------------


class FakeStore:
    """Records what the connector stores; fails on demand."""

    def __init__(self, fail: bool = False, record_limit: int | None = None) -> None:
        self.fail = fail
        self.record_limit = record_limit
        self.records: list = []

    async def put(self, records):
        if self.fail:
            raise StoreError("Kafka did not acknowledge the message within 3 s.")
        if self.record_limit and any(len(r.value) > self.record_limit for r in records):
            raise StoreError(
                "Kafka refused the record (Broker: Message size too large).",
                ErrorCode.MESSAGE_TOO_LARGE,
            )
        out = []
        for record in records:
            self.records.append(record)
            out.append(Stored(record.topic, 0, len(self.records) - 1))
        return out


def _server(store: FakeStore, max_message_bytes: int = 1 << 20) -> MllpServer:
    ingestor = Ingestor(Topics(), load_profiles([]), SchemaIds(raw=1, events=2, dlq=3))
    settings = MllpSettings(max_message_bytes=max_message_bytes, metrics_port=None)
    return MllpServer(settings, ingestor, store, ConnectorMetrics("mllp:test"))


def _decode(value: bytes, schema: str) -> dict:
    parsed = fastavro.parse_schema(json.loads(schema_text(schema)))
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed)


def _handle(server: MllpServer, found: Frame) -> bytes:
    return asyncio.run(server.handle(found, "127.0.0.1:40000"))


def test_handle_stores_the_raw_message_then_its_events_then_answers_AA():
    store = FakeStore()
    ack = _handle(_server(store), Frame(ADMIT, size=len(ADMIT)))
    assert msa(ack) == ("AA", "MSG00001")
    assert [r.topic for r in store.records] == ["hl7.raw", "clinical.events"]
    raw = _decode(store.records[0].value, "RawMessage")
    assert raw["raw"] == ADMIT and raw["message_control_id"] == "MSG00001"
    event = _decode(store.records[1].value, "ClinicalEvent")
    assert store.records[1].key == b"GOOD HEALTH HOSPITAL|PATID1234"
    assert (event["source"]["raw_topic"], event["source"]["raw_offset"]) == ("hl7.raw", 0)


def test_handle_answers_CA_in_enhanced_mode():
    raw = _with_msh(ADMIT, 15, b"AL")
    assert msa(_handle(_server(FakeStore()), Frame(raw, size=len(raw)))) == ("CA", "MSG00001")


@pytest.mark.parametrize(("msh15", "expected"), [(b"", "AR"), (b"AL", "CE")])
def test_handle_says_resend_when_kafka_does_not_take_the_message(msh15: bytes, expected: str):
    raw = _with_msh(_with_msh(ADMIT, 15, msh15), 12, b"2.7")
    server = _server(FakeStore(fail=True))
    ack = _handle(server, Frame(raw, size=len(raw)))
    assert msa(ack) == (expected, "MSG00001")
    err = _err(ack)
    assert (err.get(3, 1), err.get(4)) == ("206", "F")
    failures = server.metrics.label(server.metrics.store_failures)._value.get()
    assert failures == 1


def test_handle_uses_the_sender_profile_s_codes():
    store = FakeStore(fail=True)
    ingestor = Ingestor(Topics(), ProfileSet((LEGACY,)), SchemaIds(raw=1, events=2, dlq=3))
    server = MllpServer(
        MllpSettings(metrics_port=None), ingestor, store, ConnectorMetrics("mllp:test")
    )
    v28 = _with_msh(ADMIT, 12, b"2.8")
    ack = _handle(server, Frame(v28, size=len(v28)))
    assert msa(ack) == ("AE", "MSG00001")
    assert (_err(ack).get(3, 1), _err(ack).get(4)) == ("206", "F")
    other = _with_msh(ADMIT, 3, b"OTHERAPP")  # another sender: the policy's code
    assert msa(_handle(server, Frame(other, size=len(other))))[0] == "AR"
    messages = server.metrics.messages
    assert messages.labels(connector="mllp:test", ack="AE")._value.get() == 1


@pytest.mark.parametrize(
    ("kind", "msh15", "expected", "label"),
    [
        (b"ZZZ^Z01", b"", "AA", "ZZZ^Z01"),
        (b"QBP^Q22^QBP_Q21", b"AL", "CA", "QBP^Q22"),
        (b"ADT^A17^ADT_A17", b"", "AA", "ADT^A17"),
    ],
)
def test_handle_stores_a_type_without_a_mapper_and_accepts_it(kind, msh15, expected, label):
    raw = _with_msh(_with_msh(ADMIT, 9, kind), 15, msh15)
    store = FakeStore()
    server = _server(store)
    ack = _handle(server, Frame(raw, size=len(raw)))
    assert msa(ack) == (expected, "MSG00001")
    assert parse_message(ack).segment("ERR") is None
    assert [r.topic for r in store.records] == ["hl7.raw"]  # no event, no dead letter
    assert _decode(store.records[0].value, "RawMessage")["raw"] == raw
    counted = server.metrics.without_events.labels(connector="mllp:test", type=label)
    assert counted._value.get() == 1
    rejected = server.metrics.rejected.collect()[0].samples
    assert sum(sample.value for sample in rejected if sample.name.endswith("_total")) == 0


def test_handle_rejects_an_unsupported_version_and_keeps_it_on_the_dead_letter_topic():
    raw = _with_msh(ADMIT, 12, b"3.0")
    store = FakeStore()
    ack = _handle(_server(store), Frame(raw, size=len(raw)))
    assert msa(ack) == ("AR", "MSG00001")
    assert [r.topic for r in store.records] == ["hl7.raw", "hl7.dlq"]
    dead = _decode(store.records[1].value, "DeadLetter")
    assert dead["raw"] == raw and dead["error_code"] == "unsupported version id"
    assert (dead["error_segment"], dead["error_field"], dead["hl7_condition"]) == ("MSH", 12, 203)
    assert (dead["raw_topic"], dead["raw_offset"]) == ("hl7.raw", 0)


def test_handle_rejects_an_oversized_frame_from_its_kept_start():
    store = FakeStore()
    kept = ADMIT[:200]
    ack = _handle(
        _server(store, max_message_bytes=1000), Frame(kept, oversized=True, size=50_000_000)
    )
    assert msa(ack) == ("AR", "MSG00001")
    err = parse_message(ack).segment("ERR")
    assert err.get(3, 2) == "message too large" and "50000000 bytes" in err.get(8)
    assert [r.topic for r in store.records] == ["hl7.dlq"]
    assert _decode(store.records[0].value, "DeadLetter")["raw"] == kept


def test_a_message_over_kafka_s_record_limit_is_rejected_not_retried_forever():
    """Under the connector's own limit but over the broker's: AE would make the sender
    resend it forever; it is AR, and its start is kept on the dead-letter topic."""
    big = ADMIT + b"NTE|1||" + b"x" * 50_000 + b"\r"
    store = FakeStore(record_limit=10_000)
    ack = _handle(_server(store, max_message_bytes=1 << 20), Frame(big, size=len(big)))
    assert msa(ack) == ("AR", "MSG00001")
    err = parse_message(ack).segment("ERR")
    assert err.get(3, 2) == "message too large" and f"{len(big)} bytes" in err.get(8)
    assert [r.topic for r in store.records] == ["hl7.dlq"]
    dead = _decode(store.records[0].value, "DeadLetter")
    assert dead["raw"] == big[:4096] and dead["error_code"] == "message too large"


# -- an unexpected error is one bad message, not a resend loop ---------------------------------

PHI = "EVERYMAN"  # the patient's family name in ADMIT: must reach no peer and no log


def _a_mapper_bug(monkeypatch) -> None:
    def broken(ctx):
        raise ValueError(f"cannot read {PHI!r}")

    monkeypatch.setitem(router.MAPPERS, ("ADT", "A01"), broken)


def _internal_dead_letter(store: FakeStore, raw: bytes) -> dict:
    (dead,) = [r for r in store.records if r.topic == "hl7.dlq"]
    record = _decode(dead.value, "DeadLetter")
    assert record["raw"] == raw
    assert record["error_code"] == "application internal error"
    assert record["error_detail"].startswith("ValueError at ")
    assert PHI not in record["error_message"] and PHI not in record["error_detail"]
    return record


@pytest.mark.parametrize(("msh15", "expected"), [(b"", "AR"), (b"AL", "CE")])
def test_a_mapper_bug_is_a_dead_letter_and_a_reject_without_internals(
    monkeypatch, caplog, msh15, expected
):
    _a_mapper_bug(monkeypatch)
    raw = _with_msh(ADMIT, 15, msh15)
    store = FakeStore()
    server = _server(store)
    with caplog.at_level("DEBUG"):
        ack = _handle(server, Frame(raw, size=len(raw)))
    assert msa(ack) == (expected, "MSG00001")
    err = parse_message(ack).segment("ERR")
    assert (err.get(3, 1), err.get(3, 2)) == ("207", "application internal error")
    assert "resend" in err.get(8)
    assert PHI.encode() not in ack and b"ValueError" not in ack
    assert [r.topic for r in store.records] == ["hl7.raw", "hl7.dlq"]
    record = _internal_dead_letter(store, raw)
    assert (record["raw_topic"], record["raw_offset"]) == ("hl7.raw", 0)
    assert server.metrics.label(server.metrics.internal_errors)._value.get() == 1
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert PHI not in logged and "ValueError at" in logged


def test_an_event_the_writer_refuses_is_a_dead_letter(monkeypatch):
    store = FakeStore()
    server = _server(store)

    def refuse(events, raw):
        raise ValueError(f"value of {PHI!r} out of range")

    monkeypatch.setattr(server.ingestor, "event_records", refuse)
    ack = _handle(server, Frame(ADMIT, size=len(ADMIT)))
    assert msa(ack) == ("AR", "MSG00001")
    assert [r.topic for r in store.records] == ["hl7.raw", "hl7.dlq"]
    _internal_dead_letter(store, ADMIT)


def test_a_failure_outside_the_delivery_sequence_is_still_answered(monkeypatch):
    store = FakeStore()
    server = _server(store)

    async def broken_delivery(*args, **kwargs):
        raise ValueError(f"{PHI} went wrong")

    monkeypatch.setattr(mllp_server, "deliver", broken_delivery)
    ack = _handle(server, Frame(ADMIT, size=len(ADMIT)))
    assert msa(ack) == ("AR", "MSG00001")
    assert PHI.encode() not in ack
    _internal_dead_letter(store, ADMIT)
    assert server.metrics.label(server.metrics.internal_errors)._value.get() == 1


def test_after_an_internal_error_the_connection_goes_on(monkeypatch):
    """Over a real socket: the bad message gets AR, the next one on the same connection AA."""
    _a_mapper_bug(monkeypatch)
    transfer = _with_msh(_with_msh(ADMIT, 9, b"ADT^A02^ADT_A02"), 10, b"MSG00002")
    transfer = transfer.replace(b"EVN|A01", b"EVN|A02")

    async def scenario() -> list[tuple[str, str]]:
        store = FakeStore()
        server = MllpServer(
            MllpSettings(port=0, metrics_port=None),
            Ingestor(Topics(), load_profiles([]), SchemaIds(raw=1, events=2, dlq=3)),
            store,
            ConnectorMetrics("mllp:test"),
        )
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            answers = []
            decoder = MllpDecoder(1 << 20)
            for message in (ADMIT, transfer):
                writer.write(frame(message))
                await writer.drain()
                frames: list = []
                while not frames:
                    frames = decoder.feed(await asyncio.wait_for(reader.read(65536), 10))
                answers.append(msa(frames[0].payload))
            writer.close()
            return answers
        finally:
            await server.drain()

    assert asyncio.run(scenario()) == [("AR", "MSG00001"), ("AA", "MSG00002")]
