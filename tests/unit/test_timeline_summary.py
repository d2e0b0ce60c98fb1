"""The patient's current state, folded from the timeline in clinical order: demographics,
the stay and where the patient is, allergies, problems, latest results with their history,
active orders and medications, immunizations, appointments, documents and open alerts.

Folding all entries gives the same state as applying them one by one in clinical order,
and the same whatever order they arrived in; a repeated event changes nothing."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timeline_support import (
    event,
    feed_events,
    ident,
    merge,
    message_events,
    own_events,
)

from hl7bus.events.alerts import AlertSeverity, AlertStatus, ClinicalAlert
from hl7bus.events.model import (
    EventType,
    Location,
    Observation,
    Order,
    Payload,
    PersonName,
)
from hl7bus.events.records import to_record
from hl7bus.services.timeline import identity as idn
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.entries import alert_entry, event_entry
from hl7bus.services.timeline.summary import EntryOutOfOrder, PatientSummary


def entries_of(events):
    return [event_entry(e) for e in events]


def of_patient(events, key: str):
    return [e for e in events if e.patient.key == key]


def in_order(entries):
    state = PatientSummary()
    for entry in sorted(entries, key=lambda e: e.order):
        state = sm.apply(state, entry)
    return state


# The stay: admit, transfer, discharge, and the cancels that undo them.


def test_the_sample_feed_admits_transfers_and_discharges_a_patient() -> None:
    events = of_patient(feed_events(), "NORTHWIND|NW100377")
    adt = [e for e in events if e.event_type.value.startswith("PATIENT_")]
    admitted = sm.fold(entries_of(adt[:1]))
    assert admitted.stay.status == "admitted"
    assert admitted.stay.location == Location("NORTHWIND", "4WEST", "412", "B")
    assert admitted.stay.encounter.visit_number == "V200002"
    assert admitted.stay.encounter.admitted_at == "2026-11-28T09:25:00-06:00"
    transferred = sm.fold(entries_of(adt[:2]))
    assert (transferred.stay.status, transferred.stay.location.point_of_care) == (
        "admitted",
        "CCU",
    )
    discharged = sm.fold(entries_of(events))
    assert discharged.stay.status == "discharged"
    assert discharged.stay.location is None  # out
    assert discharged.stay.encounter.location.point_of_care == "CCU"  # where from
    assert discharged.stay.encounter.discharged_at == "2026-11-29T11:00:00-06:00"


def _at(day_time: str) -> str:
    return f"2025-{day_time}:00-05:00"


def test_each_cancel_undoes_the_movement_it_names() -> None:
    key = "RBGH|RB012250"
    ward = Location("RBGH", "2S", "210", "B")
    admit = event(EventType.PATIENT_ADMITTED, key, _at("05-30T08:00"), location=ward)
    [cancel_admit] = message_events("adt-a11-cancel-admit-v28")  # 06-01 09:45
    readmit = event(EventType.PATIENT_ADMITTED, key, _at("06-01T10:00"), location=ward)
    transfer = event(
        EventType.PATIENT_TRANSFERRED, key, _at("06-02T06:00"), location=Location("RBGH", "3N")
    )
    [cancel_transfer] = message_events("adt-a12-cancel-transfer-v28")  # 06-02 07:10
    discharge = event(EventType.PATIENT_DISCHARGED, key, _at("06-05T12:00"), location=ward)
    [cancel_discharge] = message_events("adt-a13-cancel-discharge-v28")  # 06-05 18:30

    def stay_after(*events):
        return sm.fold(entries_of(events)).stay

    assert stay_after(admit).status == "admitted"
    assert stay_after(admit, cancel_admit) is None
    assert stay_after(admit, cancel_admit, readmit, transfer).location.point_of_care == "3N"
    back = stay_after(admit, cancel_admit, readmit, transfer, cancel_transfer)
    assert (back.status, back.location) == ("admitted", ward)
    out = stay_after(admit, cancel_admit, readmit, transfer, cancel_transfer, discharge)
    assert (out.status, out.location) == ("discharged", None)
    everything = (admit, cancel_admit, readmit, transfer, cancel_transfer, discharge)
    again = stay_after(*everything, cancel_discharge)
    assert (again.status, again.location) == ("admitted", ward)
    assert again.event_id == readmit.event_id  # the stay of the admission that stands


def test_a_cancel_with_nothing_to_undo_changes_no_stay() -> None:
    [cancel] = message_events("adt-a12-cancel-transfer-v28")
    admit = event(
        EventType.PATIENT_ADMITTED, "RBGH|RB012250", _at("05-30T08:00"), location=Location("X")
    )
    assert sm.fold(entries_of([admit, cancel])).stay == sm.fold(entries_of([admit])).stay
    assert sm.fold(entries_of([cancel])).stay is None


def test_a_cancelled_pre_admission_leaves_no_stay() -> None:
    events = message_events("adt-a05-preadmit") + message_events("adt-a38-cancel-preadmit")
    assert sm.fold(entries_of(events[:1])).stay.status == "preadmitted"
    assert sm.fold(entries_of(events)).stay is None


def test_outpatient_becomes_inpatient_and_back() -> None:
    a06 = message_events("adt-a06-outpatient-to-inpatient")
    a07 = message_events("adt-a07-inpatient-to-outpatient")
    inpatient = sm.fold(entries_of(a06)).stay
    assert (inpatient.status, inpatient.location.point_of_care) == ("admitted", "3E")
    outpatient = sm.fold(entries_of(a06 + a07)).stay
    assert (outpatient.status, outpatient.location.point_of_care) == ("registered", "SURGCLIN")


# Demographics and identifiers.


def test_demographics_take_the_latest_value_and_identifiers_the_union() -> None:
    events = message_events("adt-a01-admit") + message_events("adt-a02-transfer")
    state = sm.fold(entries_of(events))
    assert {(i.authority, i.value) for i in state.identifiers} == {
        ("RBGH", "RB004417"),
        ("RBEMPI", "E-55019"),
        ("USSSA", "999-41-2207"),
    }
    assert state.name.family == "Brannigan" and state.birth_date == "1961-09-22"
    assert state.sex == "M"
    assert [a.display for a in state.allergies] == ["Penicillin", "Peanut"]
    assert [d.code for d in state.problems] == ["I21.4"]
    renamed = event(
        EventType.PATIENT_UPDATED,
        "RBGH|RB004417",
        "2025-12-01T00:00Z",
        name=PersonName(family="Brannigan-Okafor", given=("Thaddeus",)),
    )
    later = sm.fold(entries_of([*events, renamed]))
    assert later.name.family == "Brannigan-Okafor"
    assert later.birth_date == "1961-09-22"  # an event without it keeps what was known


def test_a_person_update_says_the_patient_died() -> None:
    events = message_events("adt-a28-add-person-year-only") + message_events(
        "adt-a31-update-deceased"
    )
    state = sm.fold(entries_of(events))
    assert state.deceased is True and state.deceased_at == "2025-06-11T03:42+00:00"


def test_a_merge_adds_the_prior_records_identifiers() -> None:
    state = sm.fold(entries_of(message_events("adt-a40-merge-two-pairs")[:1]))
    assert {(i.authority, i.value) for i in state.identifiers} >= {
        ("RBGH", "RB003988"),
        ("RBEMPI", "E-49001"),
    }
    assert state.keys == ("RBGH|RB004417",)


# Results, orders, medications, immunizations, appointments, documents.


def _potassium(key: str, when: str, value: str, flags=()) -> object:
    return event(
        EventType.OBSERVATIONS_REPORTED,
        key,
        when,
        payload=Payload(
            observations=(
                Observation(
                    code="2823-3",
                    code_system="LN",
                    display="Potassium",
                    value=value,
                    units="mmol/L",
                    abnormal_flags=tuple(flags),
                    observed_at=when,
                ),
            )
        ),
    )


def test_the_latest_result_per_code_keeps_its_history() -> None:
    key = "NORTHWIND|NW100377"
    reported = [e for e in of_patient(feed_events(), key) if e.event_type.value.startswith("OBS")]
    later = _potassium(key, "2026-11-28T16:00-06:00", "4.1")
    state = sm.fold(entries_of([*reported, later]))
    potassium = state.results["2823-3"]
    assert potassium.latest.value == "4.1" and potassium.latest.flags == ()
    assert [(r.value, r.units, r.flags) for r in potassium.history] == [
        ("6.8", "mmol/L", ("HH",)),
        ("4.1", "mmol/L", ()),
    ]
    assert potassium.history[0].event_id == reported[0].event_id
    assert potassium.history[0].observed_at == "2026-11-28T09:45:00+00:00"
    assert potassium.display.startswith("Potassium")
    assert state.results["10839-9"].latest.value == "2.4"
    assert set(state.results) == {"2823-3", "2951-2", "2160-0", "2345-7", "10839-9", "8251-1"}


def test_a_long_history_keeps_its_last_results_and_counts_them_all() -> None:
    key = "H|ICU"
    events = [
        _potassium(key, f"2026-01-01T{h:02d}:{m:02d}Z", f"4.{m % 10}")
        for h in range(3)
        for m in range(0, 60, 3)
    ]
    state = sm.fold(entries_of(events))
    series = state.results["2823-3"]
    assert series.count == 60
    assert len(series.history) == sm.HISTORY_LIMIT
    assert series.history[-1] is series.latest
    assert series.latest.observed_at == "2026-01-01T02:57Z"


def test_orders_stay_active_until_cancelled_or_completed() -> None:
    placed = message_events("orm-o01-new-order-v23")  # ORD-3301 placed
    changed = message_events("orm-o01-cancel-and-status-v24")  # 3302 cancelled, 3301 in process
    state = sm.fold(entries_of(placed))
    assert list(state.orders) == ["ORD-3301"]
    state = sm.fold(entries_of(placed + changed))
    assert list(state.orders) == ["ORD-3301"]
    assert state.orders["ORD-3301"].status == "IP"
    final = event(
        EventType.OBSERVATIONS_REPORTED,
        "RBGH|RB004417",
        "2025-05-02T13:00-05:00",
        payload=Payload(orders=(Order(filler_order_number="FO-3301", status="F"),)),
    )
    assert sm.fold(entries_of([*placed, *changed, final])).orders == {}


def test_medication_orders_and_their_administrations() -> None:
    state = sm.fold(entries_of(message_events("rde-o11-two-orders")))
    assert list(state.medications) == ["RX-44120"]  # RX-43002 was discontinued
    assert state.medications["RX-44120"].medications[0].display.startswith("Amlodipine")
    feed = [e for e in feed_events() if e.event_type.value.startswith("MEDICATION")]  # RDE then RAS
    state = sm.fold(entries_of(feed))
    aspirin = state.medications["RXORD9001"]
    assert aspirin.last_administered_at == "2026-11-28T11:02:00-06:00"
    assert state.orders == {}


def test_immunizations_appointments_and_documents() -> None:
    vaccines = sm.fold(entries_of(message_events("vxu-v04-three-vaccines"))).immunizations
    # The refusal is dated only (2025-03-01): it sorts at the start of that day.
    assert [v.code for v in vaccines] == ["998", "141", "110"]
    assert vaccines[0].completion_status == "RE"
    appointments = sm.fold(entries_of(message_events("siu-s12-s15-lifecycle"))).appointments
    assert list(appointments) == ["APT-2002"]
    assert appointments["APT-2002"].status == "cancelled"
    documents = sm.fold(entries_of(message_events("mdm-t01-t11-document-lifecycle"))).documents
    assert {k: d.status for k, d in documents.items()} == {"DOC-9100": "AU", "DOC-9101": "LA"}
    assert all(d.document.content is None for d in documents.values())  # the entry has it


def _alert(status: AlertStatus, at: str, by: str | None = None) -> ClinicalAlert:
    return ClinicalAlert(
        alert_id="critical-value:e1",
        rule="critical-value",
        severity=AlertSeverity.CRITICAL,
        patient_key="NORTHWIND|NW100377",
        title="Potassium 6.8 mmol/L",
        raised_at="2026-11-28T10:15:01-06:00",
        occurred_at="2026-11-28T09:45:00-06:00",
        status=status,
        changed_by=by,
        changed_at=None if status is AlertStatus.RAISED else at,
    )


def test_alerts_are_open_until_resolved_and_marked_when_acknowledged() -> None:
    raised = alert_entry(_alert(AlertStatus.RAISED, ""))
    acked = alert_entry(_alert(AlertStatus.ACKNOWLEDGED, "2026-11-28T10:20-06:00", "dr.n"))
    resolved = alert_entry(_alert(AlertStatus.RESOLVED, "2026-11-28T11:00-06:00", "dr.n"))
    state = sm.fold([raised])
    assert state.alerts["critical-value:e1"].acknowledged is False
    state = sm.fold([raised, acked])
    open_alert = state.alerts["critical-value:e1"]
    assert (open_alert.acknowledged, open_alert.acknowledged_by) == (True, "dr.n")
    assert open_alert.alert.title == "Potassium 6.8 mmol/L"
    assert sm.fold([raised, acked, resolved]).alerts == {}


# Counting, deduplication, incremental application.


def test_a_repeated_event_id_changes_nothing() -> None:
    entries = entries_of(message_events("adt-a01-admit") + message_events("adt-a02-transfer"))
    once = sm.fold(entries)
    assert sm.fold(entries + entries[:1]) == once
    assert sm.apply(once, entries[0]) is once
    assert sm.apply(once, entries[1]) is once
    assert once.event_count == 2
    assert once.last_event_at == entries[1].occurred_at


def test_a_late_entry_is_taken_in_its_place() -> None:
    first, second = entries_of(message_events("adt-a01-admit") + message_events("adt-a02-transfer"))
    state = sm.fold([second])
    assert sm.can_apply(state, first)
    late = sm.apply(state, first)
    assert late == sm.fold([first, second])
    assert late.stay.location.point_of_care == "4W"  # the transfer still comes last


def test_a_late_result_after_a_transfer_goes_in_its_place(monkeypatch) -> None:
    """A late entry that touches nothing the later ones touch is applied as it is; one
    that does (the same code) takes the state before it and the later entries again."""
    key = "NORTHWIND|NW1"
    admit = event(EventType.PATIENT_ADMITTED, key, "2026-11-28T08:00Z", location=Location("4W"))
    transfer = event(
        EventType.PATIENT_TRANSFERRED, key, "2026-11-28T10:00Z", location=Location("CCU")
    )
    early = _potassium(key, "2026-11-28T07:00Z", "6.8", ("HH",))
    late = _potassium(key, "2026-11-28T09:00Z", "5.2", ("H",))
    latest = _potassium(key, "2026-11-28T11:00Z", "4.4")
    rewinds = []
    monkeypatch.setattr(sm, "_rewind", lambda *a, _r=sm._rewind: rewinds.append(1) or _r(*a))
    state = sm.fold(entries_of([early, admit, transfer]))
    state = sm.apply(state, event_entry(late))  # after the transfer: in its place
    assert rewinds == []
    assert state == sm.fold(entries_of([early, admit, late, transfer]))
    assert state.results["2823-3"].latest.value == "5.2"
    state = sm.apply(sm.fold(entries_of([early, admit, transfer, latest])), event_entry(late))
    assert rewinds == [1]  # a later potassium: the history's order matters
    assert state == sm.fold(entries_of([early, admit, late, transfer, latest]))
    assert [r.value for r in state.results["2823-3"].history] == ["6.8", "5.2", "4.4"]


def test_an_entry_older_than_everything_the_summary_remembers_is_refused() -> None:
    key = "H|ICU"
    entries = entries_of(
        _potassium(key, f"2026-01-01T{h:02d}:{m:02d}Z", "4.0")
        for h in range(1, 4)
        for m in range(0, 60, 4)
    )
    assert len(entries) > sm.REWIND_LIMIT
    state = sm.fold(entries)
    oldest = event_entry(_potassium(key, "2026-01-01T00:30Z", "5.0"))
    assert not sm.can_apply(state, oldest)
    with pytest.raises(EntryOutOfOrder):
        sm.apply(state, oldest)
    recent = event_entry(_potassium(key, "2026-01-01T03:30Z", "5.0"))
    assert sm.apply(state, recent) == sm.fold([*entries, recent])
    # A summary rebuilt from storage remembers nothing: any late entry needs a fold.
    stored = dataclasses.replace(state, recent=())
    assert stored == state
    assert not sm.can_apply(stored, recent)
    with pytest.raises(EntryOutOfOrder):
        sm.apply(stored, recent)


def test_a_summary_is_a_frozen_value() -> None:
    state = sm.fold(entries_of(feed_events()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.event_count = 0  # type: ignore[misc]


# Properties: fold = apply in clinical order = fold of any arrival order.

PATIENT_EVENTS = {}


def _patients():
    if not PATIENT_EVENTS:
        for e in own_events():
            PATIENT_EVENTS.setdefault(e.patient.key, []).append(event_entry(e))
    return PATIENT_EVENTS


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fold_is_apply_in_clinical_order_and_ignores_arrival_order(data) -> None:
    patients = _patients()
    key = data.draw(st.sampled_from(sorted(patients)))
    entries = patients[key]
    chosen = data.draw(st.lists(st.sampled_from(entries), max_size=len(entries) + 3))
    arrival = data.draw(st.permutations(chosen))
    folded = sm.fold(chosen)
    assert sm.fold(arrival) == folded
    assert in_order(arrival) == folded
    assert folded.event_count == len({e.event_id for e in chosen})


def _made(key: str, kind: str, n: int) -> object:
    """One of a few kinds of hand-built event, at hour ``n`` of some days in 2025."""
    when = f"2025-0{1 + n % 9}-{1 + n % 27:02d}T{n % 24:02d}:00Z"
    ward = Location("RBGH", f"W{n % 3}")
    if kind in ("2823-3", "2951-2"):
        return event(
            EventType.OBSERVATIONS_REPORTED,
            key,
            when,
            payload=Payload(
                observations=(Observation(code=kind, value=str(n), units="mmol/L"),),
                orders=(Order(placer_order_number=f"O{n % 4}", status="F"),),
            ),
        )
    if kind == "ORDER_PLACED":
        return event(
            EventType.ORDER_PLACED,
            key,
            when,
            payload=Payload(orders=(Order(placer_order_number=f"O{n % 4}", status="SC"),)),
        )
    if kind == "alert":
        status = [AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED][n % 3]
        return dataclasses.replace(
            _alert(status, when, "dr.n"), alert_id=f"a{n // 3}", patient_key=key
        )
    return event(EventType(kind), key, when, location=ward, trigger="A11")


MADE = [
    "2823-3",
    "2951-2",
    "ORDER_PLACED",
    "alert",
    "PATIENT_ADMITTED",
    "PATIENT_TRANSFERRED",
    "PATIENT_DISCHARGED",
    "TRANSFER_CANCELLED",
    "DISCHARGE_CANCELLED",
    "ADMISSION_CANCELLED",
]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_applying_in_arrival_order_gives_the_fold(data) -> None:
    """The live case: each entry applied as it arrives, a fold again only when apply
    refuses; the end is the fold of everything."""
    patients = _patients()
    key = data.draw(st.sampled_from(sorted(patients)))
    made = data.draw(st.lists(st.tuples(st.sampled_from(MADE), st.integers(0, 500)), max_size=45))
    entries = list(patients[key])
    for kind, n in made:
        found = _made(key, kind, n)
        entries.append(alert_entry(found) if kind == "alert" else event_entry(found))
    arrival = data.draw(st.permutations(entries))
    state, arrived = PatientSummary(), []
    for entry in arrival:
        arrived.append(entry)
        if sm.can_apply(state, entry):
            state = sm.apply(state, entry)
        else:
            with pytest.raises(EntryOutOfOrder):
                sm.apply(state, entry)
            state = sm.fold(arrived)
    assert state == sm.fold(entries)


def test_every_own_patient_folds_the_same_forwards_and_backwards() -> None:
    for entries in _patients().values():
        assert sm.fold(list(reversed(entries))) == sm.fold(entries) == in_order(entries)


# Merges in every order: one patient, one summary.

SURVIVOR, PRIOR = "NORTHWIND|NW100512", "NORTHWIND|NW900001"


def _merge_story():
    """The feed's A40 (NW900001 into NW100512), the survivor's vaccination, and the prior
    record's own events before and after the merge."""
    feed = [e for e in feed_events() if e.patient.key == SURVIVOR]
    prior_before = [
        event(
            EventType.PATIENT_REGISTERED,
            PRIOR,
            "2026-11-20T08:00-06:00",
            identifiers=(ident("STATE|55-1", "PI"),),
            name=PersonName(family="OKAFOR", given=("ADA",)),
            birth_date="2019-05-02",
        ),
        _potassium(PRIOR, "2026-11-21T08:00-06:00", "5.9", ("H",)),
    ]
    prior_after = [_potassium(PRIOR, "2026-11-30T08:00-06:00", "4.4")]
    return feed + prior_before + prior_after


def _survivor_summary(arrival):
    state = idn.Identity()
    stored = []
    for e in arrival:
        state, _ = idn.apply(state, event_entry(e))
        stored.append(event_entry(e))
    survivor = idn.resolve(state, PRIOR)
    members = set(idn.group(state, survivor))
    return survivor, members, sm.fold([e for e in stored if e.patient_key in members])


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_a_merge_arriving_before_or_after_either_patients_events_gives_one_summary(rnd):
    story = _merge_story()
    expected = _survivor_summary(story)
    arrival = list(story)
    rnd.shuffle(arrival)
    assert _survivor_summary(arrival) == expected
    survivor, members, state = expected
    assert survivor == SURVIVOR and members == {SURVIVOR, PRIOR}
    assert [r.value for r in state.results["2823-3"].history] == ["5.9", "4.4"]
    assert {"NW900001", "55-1", "NW100512"} <= {i.value for i in state.identifiers}
    assert set(state.keys) == {SURVIVOR, PRIOR}


def test_the_merge_event_itself_may_come_first() -> None:
    story = _merge_story()
    merges = [e for e in story if e.event_type is EventType.PATIENT_MERGED]
    rest = [e for e in story if e.event_type is not EventType.PATIENT_MERGED]
    assert merges
    assert _survivor_summary(merges + rest) == _survivor_summary(rest + merges)


def test_a_hand_built_merge_story_in_every_order() -> None:
    import itertools

    events = [
        _potassium("H|A", "2026-01-01T00:00Z", "3.1", ("L",)),
        _potassium("H|B", "2026-01-02T00:00Z", "3.6"),
        merge("H|A", "H|B", "2026-01-03T00:00Z"),
        _potassium("H|B", "2026-01-04T00:00Z", "4.0"),
    ]
    results = set()
    for arrival in itertools.permutations(events):
        state = idn.Identity()
        for e in arrival:
            state, _ = idn.apply(state, e)
        members = set(idn.group(state, "H|B"))
        folded = sm.fold([event_entry(e) for e in arrival if e.patient.key in members])
        results.add((idn.resolve(state, "H|B"), repr(folded)))
    assert len(results) == 1


def test_a_merge_with_the_same_patient_record_still_adds_the_prior_identifiers() -> None:
    """Records read off Kafka may share a patient dict; a merge's MRG-1 identifiers count
    all the same."""
    registered = to_record(event(EventType.PATIENT_REGISTERED, "H|S", "2026-01-01T00:00Z"))
    merged = to_record(merge("H|S", "H|P", "2026-01-02T00:00Z"))
    merged["patient"] = registered["patient"]  # the very same dict
    state = sm.fold([event_entry(registered), event_entry(merged)])
    assert {i.value for i in state.identifiers} == {"S", "P"}
