"""Goldens: the events hl7bus must give for the project's own test messages.

Each ``tests/golden/<what it covers>.json`` names one input in ``tests/messages/`` and,
for each message in it, either the events it must give, how it must be rejected, or that it
is stored without events (a well-formed message of a type hl7bus has no mapper for).  A
person wrote every expected value by reading the HL7 text and DESIGN.md's event contract,
never by running hl7bus (that would be a snapshot: see ``tests/snapshots/``).  A golden
asserts the fields it names (nested as in the record; a list is compared in full, item by
item, each item on the fields it names), and always the number of events, each event's
type, its patient key and its identity: ``event_index`` is its position and ``event_id``
the uuid5 of the message's sending facility, control id and that index.

Where hl7bus disagrees with a golden and the golden was checked against the standard, the
golden stays as written and is listed in ``XFAIL`` (strict) with the reason.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from hl7bus.errors import MessageError
from hl7bus.events.records import decode, encode, to_record
from hl7bus.hl7 import split_messages
from hl7bus.mapping.router import MAPPERS, translate

try:  # the profiles module may move beside the mappers
    from hl7bus.mapping.profiles import ProfileSet, SenderProfile
except ImportError:
    from hl7bus.profiles import ProfileSet, SenderProfile

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
MESSAGES = REPO / "tests" / "messages"

# DESIGN.md: event ids are uuid5 of "sending facility|control id|index" in this namespace.
# Changing it changes the id of every event ever sent, so resends would no longer dedupe.
EVENT_NAMESPACE = uuid.UUID("6f1c2f0e-6b1d-4d55-9a43-3c3f0e6d7b21")

CASES = sorted(p.name for p in GOLDEN.glob("*.json"))

# Goldens that hold the right value where hl7bus is still wrong: golden name -> why.
XFAIL: dict[str, str] = {}


def _load(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def _profiles(golden: dict[str, Any]) -> ProfileSet:
    if golden.get("profile"):
        return ProfileSet(default=SenderProfile.model_validate(golden["profile"]))
    return ProfileSet()


def translated(golden: dict[str, Any]) -> list[dict[str, Any]]:
    """What hl7bus gives for the golden's input: per message, its event records or its
    rejection."""
    profiles = _profiles(golden)
    out: list[dict[str, Any]] = []
    for chunk in split_messages((MESSAGES / golden["input"]).read_bytes()):
        try:
            translation = translate(chunk, profiles)
        except MessageError as exc:
            out.append(
                {
                    "rejected": {
                        "code": exc.code.text,
                        "segment": exc.segment,
                        "field": exc.field,
                        "control_id": exc.control_id,
                    }
                }
            )
            continue
        if not translation.mapped:
            assert translation.events == []
            without = {"type": translation.kind, "control_id": translation.message.control_id}
            out.append({"without_events": without})
            continue
        records = []
        for event in translation.events:
            assert decode(encode(event)) == event, "the event does not survive Avro"
            records.append(to_record(event))
        out.append({"events": records})
    return out


def _shown(value: Any) -> str:
    return "(absent)" if value is _ABSENT else repr(value)


_ABSENT = object()


def mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """One line per asserted field that differs: ``path: expected ..., got ...``.

    Dicts are compared on the keys the golden names; lists in full (length, then each
    item)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: expected an object, got {_shown(actual)}"]
        found = []
        for key, want in expected.items():
            where = f"{path}.{key}" if path else key
            if key not in actual:
                found.append(f"{where}: expected {want!r}, got (absent)")
            else:
                found.extend(mismatches(want, actual[key], where))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {_shown(actual)}"]
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} item(s), got {len(actual)}: {actual!r}"]
        found = []
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found.extend(mismatches(want, got, f"{path}[{i}]"))
        return found
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def _identity(message: dict[str, Any], events: list[dict[str, Any]], where: str) -> list[str]:
    """Each event's index and id, and the source fields the id is made of."""
    facility, control_id = message["facility"], message["control_id"]
    message_type, trigger = message["type"].split("^")
    found = []
    for index, record in enumerate(events):
        expected = {
            "event_index": index,
            "event_id": str(uuid.uuid5(EVENT_NAMESPACE, f"{facility}|{control_id}|{index}")),
            "source": {
                "sending_facility": facility,
                "message_control_id": control_id,
                "message_type": message_type,
                "trigger_event": trigger,
            },
        }
        found.extend(mismatches(expected, record, f"{where}.events[{index}]"))
    return found


def differences(golden: dict[str, Any], actual: list[dict[str, Any]]) -> list[str]:
    wanted = golden["messages"]
    if len(wanted) != len(actual):
        return [f"expected {len(wanted)} message(s) in the input, got {len(actual)}: {actual!r}"]
    found = []
    for i, (message, got) in enumerate(zip(wanted, actual, strict=True)):
        where = f"messages[{i}]"
        if "without_events" in message or "without_events" in got:
            if "without_events" not in got:
                found.append(f"{where}: expected it stored without events, got {got!r}")
            elif "without_events" not in message:
                found.append(f"{where}: expected {message!r}, got it stored without events")
            else:
                wanted_without = message["without_events"]
                found.extend(mismatches(wanted_without, got["without_events"], where))
            continue
        if "rejected" in message:
            if "rejected" in got:
                found.extend(mismatches(message["rejected"], got["rejected"], f"{where}.rejected"))
            else:
                kinds = [e["event_type"] for e in got["events"]]
                found.append(f"{where}: expected a rejection, got events {kinds}")
        elif "rejected" in got:
            found.append(f"{where}: expected events, got rejected {got['rejected']!r}")
        elif len(got["events"]) != len(message["events"]):
            kinds = [e["event_type"] for e in got["events"]]
            found.append(f"{where}: expected {len(message['events'])} event(s), got {kinds}")
        else:
            found.extend(_identity(message, got["events"], where))
            found.extend(mismatches(message["events"], got["events"], f"{where}.events"))
    return found


def test_there_are_enough_goldens() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_golden_is_well_formed(case: str) -> None:
    """Every golden names its own input and asserts at least what every golden must."""
    golden = _load(case)
    assert golden.get("covers"), f"{case}: say what it covers"
    assert (MESSAGES / golden["input"]).is_file(), f"{case}: no tests/messages/{golden['input']}"
    assert golden["messages"], f"{case}: no messages"
    for message in golden["messages"]:
        if "rejected" in message:
            assert {"code", "segment", "field"} <= message["rejected"].keys(), case
            continue
        if "without_events" in message:
            assert {"type", "control_id"} <= message["without_events"].keys(), case
            continue
        assert {"facility", "control_id", "type", "events"} <= message.keys(), case
        for event in message["events"]:
            assert event.get("event_type"), f"{case}: an event without its event_type"
            assert event.get("patient", {}).get("key"), f"{case}: an event without patient.key"


def test_every_mapper_has_a_golden() -> None:
    covered = {
        tuple(message["type"].split("^"))
        for case in CASES
        for message in _load(case)["messages"]
        if "type" in message
    }
    missing = sorted(f"{t}^{e}" for t, e in MAPPERS if (t, e) not in covered)
    assert not missing, f"message types without a golden: {', '.join(missing)}"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=XFAIL[c])) if c in XFAIL else c
        for c in CASES
    ],
)
def test_golden(case: str) -> None:
    golden = _load(case)
    found = differences(golden, translated(golden))
    if found:
        shown = "\n  ".join(found[:40])
        more = f"\n  ... and {len(found) - 40} more" if len(found) > 40 else ""
        pytest.fail(
            f"{case} ({golden['covers']}): {len(found)} difference(s):\n  {shown}{more}",
            pytrace=False,
        )


def test_unknown_xfail_names_are_goldens() -> None:
    assert set(XFAIL) <= set(CASES)
