"""The alert rule file: which rules run, how severe their alerts are, how long an alert
suppresses the next one, the title each alert gets, and each rule's own options.

A TOML file of ``[[rule]]`` tables, one per rule (``default_rules.toml``, shipped in this
package, is the default and documents every option)::

    [[rule]]
    id = "critical-value"          # critical-value, news2, qsofa, sirs, readmission-30d, adt-notify
    severity = "CRITICAL"          # INFO, WARNING or CRITICAL
    suppress = "1h"                # no second alert of the same subject within this (30m, 6h, 1d)
    message = "Critical {name}: {value} {unit}"   # the title; {fields} of the rule
    enabled = true                 # optional

    [rule.limits]
    "2823-3" = { name = "potassium", unit = "mmol/L", below = 3.0, above = 6.1 }

A rule that the file does not declare does not run.  A file with a mistake is refused with
:class:`RuleFileError`, naming the file, the line and the reason.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from hl7bus.events.alerts import AlertSeverity
from hl7bus.events.model import EventType

from .rule_file import KeyLines, Options, Problem, RuleFileError, toml_error_line

__all__ = [
    "AdtNotifyRule",
    "CriticalValueRule",
    "Limit",
    "News2Rule",
    "ReadmissionRule",
    "Rule",
    "RuleFileError",
    "RuleSet",
    "WatchList",
    "WindowRule",
    "load_rules",
    "parse_rules",
]

DEFAULT_RULES = "default_rules.toml"
ADT_EVENTS = ("PATIENT_ADMITTED", "PATIENT_TRANSFERRED", "PATIENT_DISCHARGED")
DEFAULT_FLAGS = ("HH", "LL", "AA", ">", "<")
DEFAULT_WINDOW = timedelta(hours=6)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    id: str
    severity: AlertSeverity
    suppress: timedelta  # one alert per subject and patient within this much clinical time
    message: str  # the title template, its {fields} checked when the file was read
    enabled: bool = True

    def title(self, fields: Mapping[str, str]) -> str:
        return self.message.format_map(fields)


@dataclass(frozen=True, slots=True)
class Limit:
    """Critical limits of one code, in ``unit``: a value ``below``/``at_most`` the low one,
    or ``above``/``at_least`` the high one, is critical."""

    code: str
    unit: str
    name: str | None = None
    below: float | None = None
    at_most: float | None = None
    above: float | None = None
    at_least: float | None = None
    unit_optional: bool = False  # a value sent without a unit is in the code's only unit

    @property
    def bounds(self) -> tuple[tuple[str, float], ...]:
        kinds = ("below", "at_most", "above", "at_least")
        return tuple((k, v) for k in kinds if (v := getattr(self, k)) is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class CriticalValueRule(Rule):
    flags: frozenset[str] = frozenset(DEFAULT_FLAGS)
    limits: Mapping[str, Limit] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class News2Rule(Rule):
    emergency_severity: AlertSeverity = AlertSeverity.CRITICAL
    scale2_patients: frozenset[str] = frozenset()
    scale2_codes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowRule(Rule):
    """qsofa and sirs: criteria met by the latest reading of each code within ``window``."""

    window: timedelta = DEFAULT_WINDOW


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadmissionRule(Rule):
    days: int = 30
    admission_triggers: frozenset[str] = frozenset({"A06"})  # besides PATIENT_ADMITTED
    patient_classes: frozenset[str] = frozenset({"inpatient"})


@dataclass(frozen=True, slots=True)
class WatchList:
    name: str
    patients: frozenset[str] = frozenset()
    points_of_care: frozenset[str] = frozenset()
    facilities: frozenset[str] = frozenset()
    severity: AlertSeverity | None = None  # None: the rule's


@dataclass(frozen=True, slots=True, kw_only=True)
class AdtNotifyRule(Rule):
    events: frozenset[EventType] = frozenset(EventType(e) for e in ADT_EVENTS)
    lists: tuple[WatchList, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str = "<rules>"

    def get(self, rule_id: str) -> Rule | None:
        """The rule of that id, if the file declares it and it is enabled."""
        for rule in self.rules:
            if rule.id == rule_id and rule.enabled:
                return rule
        return None

    @property
    def horizon(self) -> timedelta:
        """How far back a patient's readings are kept: the longest qsofa/sirs window."""
        windows = [r.window for r in self.rules if isinstance(r, WindowRule) and r.enabled]
        return max(windows, default=timedelta(0))


def load_rules(path: str | os.PathLike[str] | None = None) -> RuleSet:
    """The rule file at ``path``, or the default one shipped in this package."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_RULES).read_text("utf-8")
        return parse_rules(text, DEFAULT_RULES)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RuleFileError(str(path), None, f"cannot read the rule file ({reason})") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """The rules of a rule file's text, or :class:`RuleFileError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, reason = toml_error_line(str(exc), text)
        raise RuleFileError(source, line, f"not valid TOML: {reason}") from None
    try:
        return RuleSet(_read_rules(data), source)
    except Problem as problem:
        raise RuleFileError(source, KeyLines(text).line(problem.path), problem.reason) from None


def _read_rules(data: Mapping[str, Any]) -> tuple[Rule, ...]:
    for key in data:
        if key != "rule":
            raise Problem((key,), f'unknown key "{key}"; declare each rule in a [[rule]] table')
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        raise Problem(("rule",), "rule is not an array of tables; write each as [[rule]]")
    rules: list[Rule] = []
    for index, table in enumerate(tables):
        path = ("rule", index)
        rule_id = table.get("id")
        if rule_id is None:
            raise Problem(path, 'a rule has no id; add id = "news2" (or another rule id)')
        if rule_id not in _READERS:
            known = ", ".join(_READERS)
            raise Problem((*path, "id"), f'unknown rule id "{rule_id}"; use one of {known}')
        if any(rule.id == rule_id for rule in rules):
            raise Problem((*path, "id"), f'rule "{rule_id}" is declared twice; keep one')
        fields, read = _READERS[rule_id]
        options = Options(table, path, f'rule "{rule_id}"')
        options.text("id")
        common = {
            "id": rule_id,
            "severity": options.severity("severity"),
            "suppress": options.duration("suppress", zero=True),
            "message": options.template("message", fields),
            "enabled": options.flag("enabled", True),
        }
        rules.append(read(options, common))
        options.finish()
    return tuple(rules)


def _critical_value(options: Options, common: dict[str, Any]) -> Rule:
    flags = options.texts("flags", DEFAULT_FLAGS)
    limits = {
        code: _limit(code, Options(table, (*options.path, "limits", code), _limit_name(code)))
        for code, table in options.tables("limits").items()
    }
    return CriticalValueRule(**common, flags=frozenset(f.upper() for f in flags), limits=limits)


def _limit_name(code: str) -> str:
    return f'rule "critical-value" limit "{code}"'


def _limit(code: str, options: Options) -> Limit:
    unit = options.table.get("unit")
    if unit is None:
        raise options.problem(None, 'has no unit; add unit = "..." (the unit of its limits)')
    limit = Limit(
        code=code,
        unit=options.text("unit"),
        name=options.text("name", "") or None,
        below=options.number("below"),
        at_most=options.number("at_most"),
        above=options.number("above"),
        at_least=options.number("at_least"),
        unit_optional=options.flag("unit_optional", False),
    )
    options.finish()
    kinds = dict(limit.bounds)
    if not kinds:
        raise options.problem(None, "has no limit; add below, at_most, above or at_least")
    if {"below", "at_most"} <= kinds.keys() or {"above", "at_least"} <= kinds.keys():
        raise options.problem(None, "has two limits on one side; keep one")
    low = kinds.get("below", kinds.get("at_most"))
    high = kinds.get("above", kinds.get("at_least"))
    if low is not None and high is not None and low >= high:
        raise options.problem(None, "has its low limit at or above its high limit")
    return limit


def _news2(options: Options, common: dict[str, Any]) -> Rule:
    return News2Rule(
        **common,
        emergency_severity=options.severity("emergency_severity", AlertSeverity.CRITICAL),
        scale2_patients=frozenset(options.texts("scale2_patients")),
        scale2_codes=frozenset(options.texts("scale2_codes")),
    )


def _window(options: Options, common: dict[str, Any]) -> Rule:
    window = options.duration("window", DEFAULT_WINDOW, zero=False)
    return WindowRule(**common, window=window)


def _readmission(options: Options, common: dict[str, Any]) -> Rule:
    return ReadmissionRule(
        **common,
        days=options.whole("days", 30),
        admission_triggers=frozenset(options.texts("admission_triggers", ("A06",))),
        patient_classes=frozenset(options.texts("patient_classes", ("inpatient",))),
    )


def _adt_notify(options: Options, common: dict[str, Any]) -> Rule:
    events = options.texts("events", ADT_EVENTS, choices=EventType.__members__)
    lists = []
    for name, table in options.tables("lists").items():
        entry = Options(table, (*options.path, "lists", name), f'rule "adt-notify" list "{name}"')
        watch = WatchList(
            name=name,
            patients=frozenset(entry.texts("patients")),
            points_of_care=frozenset(entry.texts("points_of_care")),
            facilities=frozenset(entry.texts("facilities")),
            severity=entry.severity("severity", common["severity"]),
        )
        entry.finish()
        lists.append(watch)
    return AdtNotifyRule(
        **common, events=frozenset(EventType(e) for e in events), lists=tuple(lists)
    )


_Reader = Callable[[Options, dict[str, Any]], Rule]
_READERS: dict[str, tuple[tuple[str, ...], _Reader]] = {
    "critical-value": (("name", "code", "value", "unit", "limit", "flags"), _critical_value),
    "news2": (("score", "scale", "risk"), _news2),
    "qsofa": (("count", "criteria", "window"), _window),
    "sirs": (("count", "criteria", "window"), _window),
    "readmission-30d": (("days", "discharged_at", "admitted_at"), _readmission),
    "adt-notify": (("list", "event", "location"), _adt_notify),
}
RULE_IDS = tuple(_READERS)
