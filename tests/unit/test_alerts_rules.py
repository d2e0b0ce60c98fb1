"""The alert rule file: the default one loads with the limits the hospital agreed on, and a
file with a mistake is refused with its file, its line and the reason in one sentence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hl7bus.errors import Hl7BusError
from hl7bus.events.alerts import AlertSeverity
from hl7bus.events.model import EventType
from hl7bus.services.alerts.rule_file import format_duration, parse_duration
from hl7bus.services.alerts.rules import (
    AdtNotifyRule,
    CriticalValueRule,
    News2Rule,
    ReadmissionRule,
    RuleFileError,
    WindowRule,
    load_rules,
    parse_rules,
)

NEWS2 = """\
[[rule]]
id = "news2"
severity = "WARNING"
suppress = "1h"
message = "NEWS2 {score}"
"""


def test_the_default_rule_file_loads_every_rule() -> None:
    rules = load_rules()
    assert [r.id for r in rules.rules] == [
        "critical-value",
        "news2",
        "qsofa",
        "sirs",
        "readmission-30d",
        "adt-notify",
    ]
    assert all(r.enabled for r in rules.rules)
    assert rules.source == "default_rules.toml"
    assert rules.horizon == timedelta(hours=6)
    news2 = rules.get("news2")
    assert isinstance(news2, News2Rule)
    assert (news2.severity, news2.emergency_severity) == (
        AlertSeverity.WARNING,
        AlertSeverity.CRITICAL,
    )
    assert news2.scale2_codes  # the observation codes that mark scale 2
    for rule_id in ("qsofa", "sirs"):
        rule = rules.get(rule_id)
        assert isinstance(rule, WindowRule)
        assert rule.window == timedelta(hours=6)
    readmission = rules.get("readmission-30d")
    assert isinstance(readmission, ReadmissionRule)
    assert readmission.days == 30
    assert "A06" in readmission.admission_triggers
    assert {"A04", "A05"}.isdisjoint(readmission.admission_triggers)
    notify = rules.get("adt-notify")
    assert isinstance(notify, AdtNotifyRule)
    assert notify.severity is AlertSeverity.INFO
    assert notify.events == {
        EventType.PATIENT_ADMITTED,
        EventType.PATIENT_TRANSFERRED,
        EventType.PATIENT_DISCHARGED,
    }


@pytest.mark.parametrize(
    ("code", "unit", "bounds"),
    [
        ("2823-3", "mmol/L", (("below", 3.0), ("above", 6.1))),
        ("6298-4", "mmol/L", (("below", 3.0), ("above", 6.1))),
        ("2951-2", "mmol/L", (("below", 120.0), ("above", 160.0))),
        ("2345-7", "mg/dL", (("below", 40.0), ("above", 450.0))),
        ("10839-9", "ng/mL", (("at_least", 0.30),)),
        ("2524-7", "mmol/L", (("above", 4.0),)),
        ("32693-4", "mmol/L", (("above", 4.0),)),
        ("718-7", "g/dL", (("below", 7.0),)),
        ("777-3", "10*3/uL", (("below", 20.0), ("above", 1000.0))),
        ("6301-6", "{ratio}", (("at_least", 5.0),)),
    ],
)
def test_the_default_critical_limits(code: str, unit: str, bounds: tuple) -> None:
    rule = load_rules().get("critical-value")
    assert isinstance(rule, CriticalValueRule)
    limit = rule.limits[code]
    assert (limit.unit, limit.bounds) == (unit, bounds)
    assert {"HH", "LL", "AA", ">", "<"} == rule.flags


def test_a_rule_the_file_does_not_declare_or_disables_does_not_run() -> None:
    rules = parse_rules(
        NEWS2 + 'enabled = false\n[[rule]]\nid = "sirs"\nseverity = "INFO"\n'
        'suppress = "0m"\nmessage = "SIRS"\n'
    )
    assert rules.get("news2") is None  # disabled
    assert rules.get("qsofa") is None  # not declared
    sirs = rules.get("sirs")
    assert isinstance(sirs, WindowRule)
    assert sirs.window == timedelta(hours=6)  # the default window
    assert sirs.suppress == timedelta(0)


def test_a_rule_file_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(NEWS2, encoding="utf-8")
    rules = load_rules(path)
    assert rules.source == str(path)
    assert [r.id for r in rules.rules] == ["news2"]


def test_a_rule_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match=r"missing\.toml: cannot read the rule file"):
        load_rules(tmp_path / "missing.toml")


def _refused(text: str) -> RuleFileError:
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text, "rules.toml")
    return caught.value


def test_a_bad_severity_is_refused_in_one_sentence() -> None:
    error = _refused(NEWS2.replace('"WARNING"', '"URGENT"'))
    assert str(error) == (
        'rules.toml line 3: rule "news2" has severity "URGENT"; use INFO, WARNING or CRITICAL'
    )
    assert isinstance(error, Hl7BusError)
    assert (error.source, error.line) == ("rules.toml", 3)


SIRS_SECOND = (
    NEWS2
    + """
[[rule]]
id = "sirs"
severity = "WARNING"
suppress = "6h"
message = "SIRS {count}"
"""
)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        # TOML syntax: tomllib's line and column.
        (NEWS2.replace('"1h"', "1h"), 4, "not valid TOML: expected newline or end of document"),
        (NEWS2 + "[[rule]\n", 6, "not valid TOML: expected ']]' at the end of an array"),
        (NEWS2 + 'message = "x', 6, "not valid TOML: unterminated string at the end of the file"),
        (
            SIRS_SECOND.replace('"6h"', '"6h"\nseverity = 2'),
            11,
            "not valid TOML: cannot overwrite a value (column 13)",
        ),
        # Unknown rule id, on its line; in the second rule of the file too.
        (NEWS2.replace('"news2"', '"news3"'), 2, 'unknown rule id "news3"; use one of'),
        (SIRS_SECOND.replace('"sirs"', '"sepsis"'), 8, 'unknown rule id "sepsis"'),
        (NEWS2 + '[[rule]]\nseverity = "INFO"\n', 6, "a rule has no id"),
        (NEWS2 + NEWS2, 7, 'rule "news2" is declared twice'),
        # Severity.
        (NEWS2.replace('severity = "WARNING"\n', ""), 1, 'rule "news2" has no severity'),
        (
            SIRS_SECOND.replace('"WARNING"\nsuppress = "6h"', '"warning"\nsuppress = "6h"'),
            9,
            'rule "sirs" has severity "warning"; use INFO, WARNING or CRITICAL',
        ),
        (NEWS2 + 'emergency_severity = "HIGH"\n', 6, 'has emergency_severity "HIGH"'),
        # Durations.
        (
            NEWS2.replace('"1h"', '"1 hour"'),
            4,
            'rule "news2" has suppress "1 hour"; write a duration such as 30m, 6h or 1d',
        ),
        (NEWS2.replace('"1h"', "60"), 4, 'rule "news2" has suppress 60; write a duration'),
        (
            SIRS_SECOND + 'window = "0h"\n',
            12,
            'has window "0h"; write a duration such as 30m, 6h or 1d, longer than 0',
        ),
        (SIRS_SECOND + 'window = "6hours"\n', 12, 'rule "sirs" has window "6hours"'),
        (NEWS2.replace('suppress = "1h"\n', ""), 1, 'rule "news2" has no suppress'),
        # Unknown options.
        (
            SIRS_SECOND + 'windw = "6h"\n',
            12,
            'rule "sirs" has no option "windw"; its options are id, severity, suppress, message, '
            "enabled, window",
        ),
        (NEWS2 + "days = 30\n", 6, 'rule "news2" has no option "days"'),
        ("version = 1\n" + NEWS2, 1, 'unknown key "version"; declare each rule in a [[rule]]'),
        # Messages.
        (
            NEWS2.replace("{score}", "{total}"),
            5,
            'rule "news2" message uses {total}; it can use {score}, {scale}, {risk}',
        ),
        (NEWS2.replace("{score}", "{score:>4}"), 5, "message uses {score}"),
        (NEWS2.replace("{score}", "{score"), 5, "has a message that is not a template"),
        (NEWS2.replace('message = "NEWS2 {score}"\n', ""), 1, 'rule "news2" has no message'),
        # Options of the wrong type.
        (NEWS2 + 'enabled = "yes"\n', 6, "has enabled 'yes'; write true or false"),
        (NEWS2 + 'scale2_patients = "A|1"\n', 6, "has scale2_patients 'A|1'; write a list"),
    ],
)
def test_a_rule_file_with_a_mistake_is_refused_with_its_line(
    text: str, line: int, reason: str
) -> None:
    error = _refused(text)
    assert error.line == line, str(error)
    assert reason in str(error)
    assert str(error).startswith(f"rules.toml line {line}: ")


CRITICAL = """\
[[rule]]
id = "critical-value"
severity = "CRITICAL"
suppress = "1h"
message = "Critical {name}: {value} {unit}"

[rule.limits]
"2951-2" = { name = "sodium", unit = "mmol/L", below = 120, above = 160 }
"""


@pytest.mark.parametrize(
    ("extra", "line", "reason"),
    [
        (
            '"2823-3" = { name = "potassium", below = 3.0, above = 6.1 }',
            9,
            'rule "critical-value" limit "2823-3" has no unit; add unit = "..."',
        ),
        ('"2823-3" = { unit = "mmol/L" }', 9, 'limit "2823-3" has no limit; add below'),
        (
            '"2823-3" = { unit = "mmol/L", below = 3.0, at_most = 2.5 }',
            9,
            "has two limits on one side",
        ),
        (
            '"2823-3" = { unit = "mmol/L", below = 6.1, above = 3.0 }',
            9,
            "has its low limit at or above its high limit",
        ),
        ('"2823-3" = { unit = "mmol/L", above = "6.1" }', 9, "has above '6.1'; write a number"),
        (
            '"2823-3" = { unit = "mmol/L", above = 6.1, over = 7 }',
            9,
            'limit "2823-3" has no option "over"',
        ),
        (
            '\n["rule".limits."2823-3"]\nname = "potassium"\nabove = 6.1\n',
            10,
            'limit "2823-3" has no unit',
        ),
    ],
)
def test_a_critical_limit_with_a_mistake_is_refused(extra: str, line: int, reason: str) -> None:
    error = _refused(CRITICAL + extra + "\n")
    assert error.line == line, str(error)
    assert reason in str(error)


ADT = """\
[[rule]]
id = "adt-notify"
severity = "INFO"
suppress = "0m"
message = "{list}: {event}"

[rule.lists.icu]
points_of_care = ["ICU"]
"""


def test_adt_notify_lists() -> None:
    rules = parse_rules(ADT + '[rule.lists.watch]\npatients = ["NW|1"]\nseverity = "WARNING"\n')
    rule = rules.get("adt-notify")
    assert isinstance(rule, AdtNotifyRule)
    icu, watch = rule.lists
    assert (icu.name, icu.points_of_care, icu.severity) == ("icu", {"ICU"}, AlertSeverity.INFO)
    assert (watch.patients, watch.severity) == ({"NW|1"}, AlertSeverity.WARNING)


@pytest.mark.parametrize(
    ("extra", "line", "reason"),
    [
        ('wards = ["4WEST"]', 9, 'rule "adt-notify" list "icu" has no option "wards"'),
        ('severity = "LOUD"', 9, 'list "icu" has severity "LOUD"'),
        ("[rule.lists.x]\npatients = [1, 2]", 10, "has patients [1, 2]; write a list of texts"),
    ],
)
def test_an_adt_list_with_a_mistake_is_refused(extra: str, line: int, reason: str) -> None:
    error = _refused(ADT + extra + "\n")
    assert error.line == line, str(error)
    assert reason in str(error)


def test_adt_notify_events_must_be_event_types() -> None:
    error = _refused(ADT.replace("[rule.lists.icu]", 'events = ["ADMIT"]\n[rule.lists.icu]'))
    assert error.line == 7
    assert 'lists "ADMIT" in events; use PATIENT_REGISTERED' in str(error)


def test_readmission_days_must_be_a_whole_number() -> None:
    text = (
        '[[rule]]\nid = "readmission-30d"\nseverity = "INFO"\nsuppress = "1d"\n'
        'message = "Readmitted"\ndays = "30"\n'
    )
    error = _refused(text)
    assert (error.line, error.reason) == (
        6,
        "rule \"readmission-30d\" has days '30'; write a whole number from 1",
    )


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("0m", timedelta(0)),
    ],
)
def test_durations(text: str, span: timedelta) -> None:
    assert parse_duration(text) == span
    assert parse_duration(format_duration(span)) == span


@pytest.mark.parametrize("text", ["", "6", "6 h", "h", "1w", "-1h", "1m1h", "1.5h"])
def test_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None
