"""Where a finished file goes, under which name, and what its result says."""

from __future__ import annotations

import json

from hl7bus.connectors.files.placement import (
    Folder,
    MessageResult,
    Outcome,
    folder_for,
    free_name,
    result_document,
    sidecar_name,
)

GOOD = MessageResult(1, "ADT-1", Outcome.TRANSLATED, events=1)
ALSO_GOOD = MessageResult(2, "ORU-1", Outcome.TRANSLATED, events=3)
BAD = MessageResult(
    3,
    "ADT-9",
    Outcome.DEAD_LETTER,
    error_code="unsupported version id",
    error_segment="MSH",
    error_field=12,
)
QUERY = MessageResult(4, "QBP-1", Outcome.WITHOUT_EVENTS, message_type="QBP^Q22")


def test_a_file_whose_messages_all_translated_goes_to_done():
    assert folder_for([GOOD, ALSO_GOOD]) is Folder.DONE


def test_one_dead_letter_sends_the_file_to_error():
    assert folder_for([GOOD, BAD, ALSO_GOOD]) is Folder.ERROR


def test_a_message_stored_without_events_is_no_error():
    assert folder_for([GOOD, QUERY]) is Folder.DONE
    assert folder_for([QUERY]) is Folder.DONE
    assert folder_for([QUERY, BAD]) is Folder.ERROR


def test_a_file_without_any_message_goes_to_error():
    assert folder_for([]) is Folder.ERROR


def test_the_name_is_kept_when_free():
    assert free_name("adt.hl7", {"other.hl7"}) == "adt.hl7"


def test_a_taken_name_gets_a_number_before_its_suffix():
    taken = {"adt.hl7", sidecar_name("adt.hl7"), "adt.2.hl7"}
    assert free_name("adt.hl7", taken) == "adt.3.hl7"
    assert free_name("batch", {"batch"}) == "batch.2"


def test_a_leftover_result_also_makes_a_name_taken():
    assert free_name("adt.hl7", {sidecar_name("adt.hl7")}) == "adt.2.hl7"


def test_the_result_lists_each_message_with_control_id_outcome_and_error_code():
    document = result_document(
        "mixed.hl7", "files:lab", [GOOD, BAD, QUERY], "2024-01-15T10:30:00.000+00:00"
    )
    assert json.loads(json.dumps(document)) == document
    assert document["messages"] == 3
    counts = (document["translated"], document["without_events"], document["dead_letter"])
    assert counts == (1, 1, 1)
    assert [(r["control_id"], r["outcome"], r["error_code"]) for r in document["results"]] == [
        ("ADT-1", "translated", None),
        ("ADT-9", "dead_letter", "unsupported version id"),
        ("QBP-1", "without_events", None),
    ]
    assert document["results"][1]["error_segment"] == "MSH"
    assert document["results"][1]["error_field"] == 12
    assert document["results"][2]["message_type"] == "QBP^Q22"
    assert "message_type" not in document["results"][0]


def test_the_result_of_an_empty_file_says_so():
    document = result_document("empty.hl7", "files:lab", [], "2024-01-15T10:30:00.000+00:00")
    assert document["messages"] == 0
    assert "no HL7 message" in document["note"]
