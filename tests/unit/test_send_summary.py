"""``hl7bus send``'s pure part: reading an ACK, adding the answers up, the report line
and the exit status."""

from __future__ import annotations

from hl7bus.commands.send import NO_ACK, Answer, Tally, progress_bar, read_ack


def ack(code: str, control_id: str, text: str = "", err: str = "") -> bytes:
    msa = f"MSA|{code}|{control_id}" + (f"|{text}" if text else "")
    segments = ["MSH|^~\\&|BUS||REG|HOSP|20240115103000||ACK^A01^ACK|A1|P|2.5", msa]
    if err:
        segments.append(f"ERR||MSH^1^9|200^unsupported message type^HL70357|E||||{err}")
    return ("\r".join(segments) + "\r").encode()


def test_read_ack_gives_the_code_and_the_text():
    assert read_ack(ack("AA", "C1")) == ("AA", "")
    assert read_ack(ack("AR", "C2", "Message type ZZZ\\S\\Z99 is unknown.")) == (
        "AR",
        "Message type ZZZ^Z99 is unknown.",
    )


def test_read_ack_falls_back_to_the_err_text():
    assert read_ack(ack("AE", "C3", err="no PID")) == ("AE", "no PID")


def test_read_ack_of_something_without_msa():
    assert read_ack(b"MSH|^~\\&|X\rPID|1\r") == (NO_ACK, "")
    assert read_ack(b"garbage") == (NO_ACK, "")
    assert read_ack(ack("", "C1")) == (NO_ACK, "")


def test_read_ack_with_lf_separated_segments_and_lower_case_code():
    assert read_ack(b"MSH|^~\\&|BUS\nMSA|ca|C9\n") == ("CA", "")


def tally(*codes: str) -> Tally:
    result = Tally()
    for n, code in enumerate(codes, start=1):
        result.add(Answer(f"C{n}", code, "why" if code not in ("AA", "CA") else ""))
    return result


def test_all_accepted_is_exit_0():
    assert tally("AA", "CA", "AA").exit_code() == 0


def test_any_other_code_is_exit_2():
    assert tally("AA", "AE").exit_code() == 2
    assert tally("AA", NO_ACK).exit_code() == 2


def test_the_report_counts_codes_accepted_first_then_by_count():
    report = tally(*["AA"] * 117, "AR", "AE", "AR").report()
    assert report[0] == "sent 120 messages: AA 117, AR 2, AE 1"


def test_the_report_lists_each_message_not_accepted_with_its_control_id():
    report = tally("AA", "AR", "AA", "AE").report()
    assert report[1:] == ["  AR C2: why", "  AE C4: why"]


def test_the_report_says_when_not_everything_was_sent():
    assert tally("AA", "AA").report(total=5)[0] == "sent 2 messages of 5: AA 2"


def test_the_report_of_nothing():
    assert Tally().report(total=0) == ["sent 0 messages"]
    assert tally("AA").report() == ["sent 1 message: AA 1"]


def test_the_progress_bar():
    assert progress_bar(5, 10, "AA 5", width=10).startswith("\r[#####.....] 5/10  AA 5")
    assert progress_bar(0, 0, "", width=4).startswith("\r[####] 0/0")
