"""Golden tests: chosen corpus messages and the events they must give, field by field.

Each ``tests/golden/<what it covers>.json`` holds the expected events of one input
file, named in it: a corpus file (read in place from ``CORPUS``), or one of our own small
messages in ``tests/golden/inputs/`` (for what the corpus lacks, such as ``\\F\\`` and
``\\E\\`` escapes or ISO 8859-1 bytes).  Its form::

    {
      "input": "<file name>",
      "covers": "what this case is here for",
      "profile": {...},            # optional: the default sender profile to use
      "messages": [                # one entry per message split_messages finds
        {"events": [<record>, ...]},            # the records, minus source.received_at
        {"rejected": {"code": "...", "segment": "...", "field": 9}}
      ]
    }

The expected values were checked by hand against the raw messages (names, identifiers,
dates, offsets, codes, values, units, flags, unescaped text), not copied from our
output.  When the code changes what it gives, a failure lists each differing field.

To rewrite goldens from the current output (then review every changed value by hand,
e.g. with ``git diff tests/golden``); a new golden starts as a file holding only its
``input`` and ``covers``::

    .venv/bin/python tests/unit/test_golden.py --update [NAME ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from hl7bus.errors import MessageError
from hl7bus.events.records import decode, encode, to_record
from hl7bus.hl7 import split_messages
from hl7bus.mapping.router import translate
from hl7bus.profiles import ProfileSet, SenderProfile

REPO = Path(__file__).resolve().parents[2]
from paths import CORPUS  # noqa: E402

GOLDEN = REPO / "tests" / "golden"
INPUTS = GOLDEN / "inputs"

# Goldens that hold the correct value where hl7bus (its parser) is still wrong.
XFAIL: dict[str, str] = {}  # golden name -> why it is expected to fail, while it does

CASES = sorted(p.name for p in GOLDEN.glob("*.json"))


def _input(name: str) -> Path:
    own = INPUTS / name
    return own if own.exists() else CORPUS / name


def _profiles(golden: dict[str, Any]) -> ProfileSet:
    if golden.get("profile"):
        return ProfileSet(default=SenderProfile.model_validate(golden["profile"]))
    return ProfileSet()


def actual_messages(golden: dict[str, Any]) -> list[dict[str, Any]]:
    """What hl7bus gives today for the golden's input, in the golden's form."""
    profiles = _profiles(golden)
    out: list[dict[str, Any]] = []
    for chunk in split_messages(_input(golden["input"]).read_bytes()):
        try:
            translation = translate(chunk, profiles)
        except MessageError as exc:
            out.append(
                {"rejected": {"code": exc.code.text, "segment": exc.segment, "field": exc.field}}
            )
            continue
        events = []
        for event in translation.events:
            assert decode(encode(event)) == event, "the event does not survive Avro"
            record = to_record(event)
            record["source"].pop("received_at", None)
            events.append(record)
        out.append({"events": events})
    return out


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        if not value:
            out[path] = {}
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        out[f"{path}#len"] = len(value)
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
    else:
        out[path] = value


_MISSING = object()


def differences(expected: Any, actual: Any) -> list[str]:
    """One line per field that differs: ``path: expected ..., got ...``."""
    want: dict[str, Any] = {}
    got: dict[str, Any] = {}
    _flatten(expected, "", want)
    _flatten(actual, "", got)
    lines = []
    for path in sorted(set(want) | set(got), key=lambda p: (p.split("[")[0], p)):
        w, g = want.get(path, _MISSING), got.get(path, _MISSING)
        if w == g:
            continue
        shown_w = "(absent)" if w is _MISSING else repr(w)
        shown_g = "(absent)" if g is _MISSING else repr(g)
        lines.append(f"{path}: expected {shown_w}, got {shown_g}")
    return lines


def test_there_are_enough_goldens() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=XFAIL[c])) if c in XFAIL else c
        for c in CASES
    ],
)
def test_golden(case: str) -> None:
    golden = json.loads((GOLDEN / case).read_text(encoding="utf-8"))
    assert _input(golden["input"]).is_file(), f"{case}: no input {golden['input']}"
    diff = differences(golden["messages"], actual_messages(golden))
    if diff:
        shown = "\n  ".join(diff[:60])
        more = f"\n  ... and {len(diff) - 60} more" if len(diff) > 60 else ""
        pytest.fail(
            f"{case}: {len(diff)} field(s) differ from the golden "
            f"({golden.get('covers', '')}):\n  {shown}{more}",
            pytrace=False,
        )


def update(names: list[str]) -> None:
    """Rewrite goldens from the current output (keeping input, covers and profile)."""
    for name in names:
        name = name.removesuffix(".json")
        path = GOLDEN / f"{name}.json"
        golden = json.loads(path.read_text(encoding="utf-8"))
        golden["messages"] = actual_messages(golden)
        path.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--update":
        sys.exit("usage: test_golden.py --update [NAME ...]  (all goldens when no NAME)")
    # Without names, goldens marked XFAIL keep their hand-written (correct) expectation.
    update(args[1:] or [c.removesuffix(".json") for c in CASES if c not in XFAIL])
