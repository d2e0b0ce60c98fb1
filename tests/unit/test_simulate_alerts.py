"""The simulated hospital's patients through the alerts service's pure engine with the rules
that ship with hl7bus: the patients whose vital signs deteriorate raise NEWS2 at 7 or more,
those with a critical potassium a critical-value alert, the readmitted a readmission, and the
stable ones nothing at all."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from simulate_support import finished_stories, translated_feed

from hl7bus.events.alerts import AlertSeverity, ClinicalAlert
from hl7bus.services.alerts.engine import evaluate
from hl7bus.services.alerts.rules import load_rules
from hl7bus.services.alerts.state import PatientState
from hl7bus.simulate import Scenario

NOW = datetime(2027, 1, 1, tzinfo=UTC)
QUIET = {Scenario.OUTPATIENT, Scenario.STABLE_STAY, Scenario.DUPLICATE_RECORD}


def _alerts_by_story() -> tuple[dict[int, list[ClinicalAlert]], dict[int, Scenario], set[int]]:
    rules = load_rules()
    states: dict[str, PatientState] = {}
    story_of: dict[str, int] = {}
    alerts: dict[int, list[ClinicalAlert]] = defaultdict(list)
    scenarios: dict[int, Scenario] = {}
    items = translated_feed()
    for item in items:
        scenarios[item.sent.story] = item.sent.scenario
        for event in item.translation.events if item.translation else ():
            key = event.patient.key
            story_of[key] = item.sent.story
            state = states.get(key) or PatientState.empty(key)
            result = evaluate(rules, state, event, now=NOW)
            states[key] = result.state
            alerts[item.sent.story].extend(result.alerts)
    return alerts, scenarios, finished_stories(items)


def test_each_patient_raises_the_alerts_their_story_means() -> None:
    alerts, scenarios, finished = _alerts_by_story()
    meant = defaultdict(int)
    for story, scenario in scenarios.items():
        raised = alerts.get(story, [])
        rules = {a.rule for a in raised}
        if scenario in QUIET:
            assert not raised, (story, scenario, [a.title for a in raised])
            continue
        if scenario is Scenario.READMISSION:
            assert rules <= {"readmission-30d"}, (story, rules)
        if scenario is Scenario.CRITICAL_RESULT:
            assert all(a.rule == "critical-value" for a in raised), (story, rules)
            assert {a.attributes["code"] for a in raised} <= {"2823-3"}
        if story not in finished:
            continue
        if scenario is Scenario.DETERIORATING:
            news2 = [a for a in raised if a.rule == "news2"]
            assert any(
                a.severity is AlertSeverity.CRITICAL and int(a.attributes["score"]) >= 7
                for a in news2
            ), (story, [a.title for a in raised])
            assert any(a.severity is AlertSeverity.WARNING for a in news2), "it worsens"
        elif scenario is Scenario.CRITICAL_RESULT:
            (alert,) = raised
            assert alert.title == f"Critical potassium: {alert.attributes['value']} mmol/L"
        elif scenario is Scenario.READMISSION:
            assert [a.rule for a in raised] == ["readmission-30d"]
        meant[scenario] += 1
    assert set(meant) == {
        Scenario.DETERIORATING,
        Scenario.CRITICAL_RESULT,
        Scenario.READMISSION,
    }, "each kind of alert is raised in the stretch tested"
