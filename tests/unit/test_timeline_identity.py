"""Identity as state: merges move a record's history to its survivor, links show two
records together, PID-3 repetitions make any identifier find the patient.  Merges give
the same patients whatever order they and the patients' events arrive in, and a circular
or repeated merge is refused with its reason, never a loop."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timeline_support import event, feed_events, ident, link, merge, message_events

from hl7bus.events.alerts import ClinicalAlert
from hl7bus.events.model import EventType, Identifier, Location
from hl7bus.services.timeline import identity as idn
from hl7bus.services.timeline.entries import alert_entry, event_entry
from hl7bus.services.timeline.identity import Identity, Outcome, Refusal


def _run(events, start: Identity | None = None) -> tuple[Identity, list[idn.Decision]]:
    state = start or Identity()
    decisions = []
    for e in events:
        state, decision = idn.apply(state, event_entry(e))
        decisions.append(decision)
    return state, decisions


def test_an_a40_with_two_pairs_merges_each_prior_record_into_its_survivor() -> None:
    state, decisions = _run(message_events("adt-a40-merge-two-pairs"))
    assert [d.outcome for d in decisions] == [Outcome.MERGED, Outcome.MERGED]
    assert idn.resolve(state, "RBGH|RB003988") == "RBGH|RB004417"
    assert idn.resolve(state, "RBGH|RB009850") == "RBGH|RB009921"
    assert idn.group(state, "RBGH|RB004417") == ("RBGH|RB003988", "RBGH|RB004417")
    assert decisions[0].survivor == "RBGH|RB004417"
    assert decisions[0].prior == "RBGH|RB003988"
    assert decisions[0].moved == ("RBGH|RB003988",)
    assert decisions[0].reason is None


@pytest.mark.parametrize(
    ("name", "prior"),
    [
        ("adt-a34-merge-id-v23", "RBGH|RB007001"),
        ("adt-a35-merge-account", "RBGH|RB007002"),
        ("adt-a36-merge-id-and-account", "RBGH|RB007003"),
        ("adt-a39-merge-person", "RBGH|RB007004"),
        ("adt-a41-merge-account", "RBGH|RB007005"),
        ("adt-a47-change-identifier", "RBGH|RB007006"),
    ],
)
def test_every_merge_trigger_moves_the_prior_record_to_the_survivor(name: str, prior: str):
    state, (decision,) = _run(message_events(name))
    assert decision.outcome is Outcome.MERGED
    assert idn.resolve(state, prior) == "RBGH|RB004417"


def test_a_later_event_under_the_merged_away_key_lands_on_the_survivor() -> None:
    state, _ = _run([merge("H|S", "H|P")])
    later = event(EventType.OBSERVATIONS_REPORTED, "H|P", "2026-02-01T00:00Z")
    state, decision = idn.apply(state, event_entry(later))
    assert decision.outcome is Outcome.UNCHANGED
    assert idn.resolve(state, event_entry(later).patient_key) == "H|S"


def test_a_key_never_seen_is_its_own_survivor() -> None:
    assert idn.resolve(Identity(), "H|nobody") == "H|nobody"
    assert idn.group(Identity(), "H|nobody") == ("H|nobody",)
    assert idn.linked(Identity(), "H|nobody") == ()
    assert idn.find(Identity(), None, "nobody") == ()


def test_a_record_merged_into_itself_is_refused() -> None:
    state, (decision,) = _run([merge("H|A", "H|A")])
    assert decision.outcome is Outcome.REFUSED
    assert decision.refusal is Refusal.CIRCULAR_MERGE
    assert "MRG-1" in decision.reason and "H|A" not in decision.reason  # no PHI in logs
    assert idn.group(state, "H|A") == ("H|A",)


def test_an_account_merge_within_one_record_changes_no_identity() -> None:
    within = merge("H|A", "H|A", trigger="A35")
    within = dataclasses.replace(
        within,
        payload=dataclasses.replace(
            within.payload,
            merge=dataclasses.replace(within.payload.merge, prior_account_number="ACC-1"),
        ),
    )
    _, (_, decision) = _run([event(EventType.PATIENT_REGISTERED, "H|A", None), within])
    assert decision.outcome is Outcome.UNCHANGED and decision.refusal is None
    assert decision.reason and "account" in decision.reason.lower()


def test_the_same_a40_again_with_pid_and_mrg_swapped_is_refused() -> None:
    state, decisions = _run([merge("H|S", "H|P"), merge("H|P", "H|S")])
    assert decisions[1].outcome is Outcome.REFUSED
    assert decisions[1].refusal is Refusal.CIRCULAR_MERGE
    assert idn.resolve(state, "H|P") == "H|S" and idn.resolve(state, "H|S") == "H|S"


def test_the_same_merge_sent_again_is_refused_as_repeated() -> None:
    state, decisions = _run([merge("H|S", "H|P"), merge("H|S", "H|P")])
    assert decisions[1].refusal is Refusal.REPEATED_MERGE
    assert idn.group(state, "H|S") == ("H|P", "H|S")


def test_a_merge_into_a_record_already_merged_away_goes_to_the_final_survivor() -> None:
    state, decisions = _run([merge("H|C", "H|B"), merge("H|B", "H|A")])
    assert decisions[1].outcome is Outcome.MERGED
    assert decisions[1].survivor == "H|C"
    assert decisions[1].reason and "final survivor" in decisions[1].reason
    assert idn.resolve(state, "H|A") == "H|C"
    assert idn.group(state, "H|C") == ("H|A", "H|B", "H|C")


def test_a_chain_moves_every_record_merged_into_the_prior_one() -> None:
    state, decisions = _run([merge("H|B", "H|A"), merge("H|C", "H|B")])
    assert decisions[1].moved == ("H|A", "H|B")
    assert idn.resolve(state, "H|A") == "H|C"


def test_apply_leaves_the_identity_it_was_given_alone() -> None:
    before, _ = _run([merge("H|B", "H|A")])
    after, _ = idn.apply(before, event_entry(merge("H|C", "H|B")))
    assert idn.resolve(before, "H|A") == "H|B"
    assert idn.resolve(after, "H|A") == "H|C"


def test_a_link_shows_two_records_together_and_an_unlink_separates_them() -> None:
    state, decisions = _run(message_events("adt-a24-link"))
    assert decisions[0].outcome is Outcome.LINKED
    assert idn.linked(state, "RBGH|RB004417") == ("LAKESHORE|LK-30877",)
    assert idn.linked(state, "LAKESHORE|LK-30877") == ("RBGH|RB004417",)
    assert idn.resolve(state, "LAKESHORE|LK-30877") == "LAKESHORE|LK-30877"  # still distinct
    state, decisions = _run(message_events("adt-a37-unlink"), state)
    assert decisions[0].outcome is Outcome.UNLINKED
    assert idn.linked(state, "RBGH|RB004417") == ()


def test_links_follow_merges_and_are_shown_transitively() -> None:
    state, _ = _run(
        [
            link("H|A", "L|X", "2026-01-01T00:00Z"),
            link("L|X", "M|Y", "2026-01-02T00:00Z"),
            merge("H|S", "H|A"),
        ]
    )
    assert idn.linked(state, "H|S") == ("L|X", "M|Y")
    assert idn.linked(state, "H|A") == ("L|X", "M|Y")
    assert idn.linked(state, "M|Y") == ("H|S", "L|X")


def test_odd_links_are_refused_with_a_reason() -> None:
    state, decisions = _run(
        [
            link("H|A", "H|A", "2026-01-01T00:00Z"),
            link("H|A", "L|X", "2026-01-01T00:00Z"),
            link("L|X", "H|A", "2026-01-02T00:00Z"),
            link("H|A", "M|Z", "2026-01-02T00:00Z", unlink=True),
        ]
    )
    assert [d.refusal for d in decisions] == [
        Refusal.SELF_LINK,
        None,
        Refusal.REPEATED_LINK,
        Refusal.NOT_LINKED,
    ]
    assert idn.linked(state, "H|A") == ("L|X",)


def test_an_unlink_of_a_record_since_merged_away_still_separates_the_patients() -> None:
    state, decisions = _run(
        [
            link("H|A", "L|X", "2026-01-01T00:00Z"),
            merge("H|S", "H|A"),
            link("H|S", "L|X", "2026-01-03T00:00Z", unlink=True),
        ]
    )
    assert decisions[2].outcome is Outcome.UNLINKED
    assert idn.linked(state, "H|S") == ()


def test_any_cross_referenced_identifier_finds_the_patient() -> None:
    state, decisions = _run(message_events("adt-a01-admit"))
    assert decisions[0].outcome is Outcome.CROSS_REFERENCED
    assert {(x.authority, x.value) for x in decisions[0].identifiers} == {
        ("RBGH", "RB004417"),
        ("RBEMPI", "E-55019"),
        ("USSSA", "999-41-2207"),
    }
    for authority, value in [("RBEMPI", "E-55019"), ("USSSA", "999-41-2207"), (None, "RB004417")]:
        assert idn.find(state, authority, value) == ("RBGH|RB004417",)
    assert idn.find(state, "OTHER", "E-55019") == ()
    # The same identifiers again change nothing.
    state, (again,) = _run(message_events("adt-a01-admit"), state)
    assert again.outcome is Outcome.UNCHANGED and again.identifiers == ()
    # An identifier of a record merged away finds its survivor.
    state, _ = _run(message_events("adt-a40-merge-two-pairs"), state)
    assert idn.find(state, "RBEMPI", "E-49001") == ("RBGH|RB004417",)
    assert idn.find(state, "RBGH", "RB003988") == ("RBGH|RB004417",)


def test_the_sample_feed_cross_references_the_state_identifier() -> None:
    state, _ = _run(feed_events())
    assert idn.find(state, "STATE", "998877") == ("NORTHWIND|NW100234",)
    assert idn.resolve(state, "NORTHWIND|NW900001") == "NORTHWIND|NW100512"


def test_an_identifier_shared_by_two_records_finds_both() -> None:
    shared = Identifier(value="E-1", authority="EMPI", type="PI")
    state, _ = _run(
        [
            event(EventType.PATIENT_REGISTERED, "H|A", None, identifiers=(shared,)),
            event(EventType.PATIENT_REGISTERED, "L|B", None, identifiers=(shared,)),
        ]
    )
    assert idn.find(state, "EMPI", "E-1") == ("H|A", "L|B")
    state, _ = _run([merge("H|A", "L|B")], state)
    assert idn.find(state, "EMPI", "E-1") == ("H|A",)


def test_alerts_change_no_identity() -> None:
    alert = ClinicalAlert(
        alert_id="a", rule="r", patient_key="H|A", title="t", raised_at="2026-01-01T00:00Z"
    )
    state, decision = idn.apply(Identity(), alert_entry(alert))
    assert decision.outcome is Outcome.UNCHANGED
    assert idn.find(state, None, "A") == ()


def test_a_clinical_event_can_be_applied_as_it_is() -> None:
    state, decision = idn.apply(Identity(), merge("H|S", "H|P"))
    assert decision.outcome is Outcome.MERGED and idn.resolve(state, "H|P") == "H|S"


# Order independence, as properties.

KEYS = [f"H|{n}" for n in range(7)]


def _patient_events(keys):
    return [
        event(
            EventType.PATIENT_ADMITTED,
            key,
            f"2026-01-0{1 + i % 9}T00:00Z",
            identifiers=(ident(f"EMPI|E{key[2:]}", "PI"),),
            location=Location(point_of_care="4W"),
        )
        for i, key in enumerate(keys)
    ]


def _components(pairs) -> dict[str, frozenset[str]]:
    """The patients that the merges make: connected components, found the slow way."""
    groups = {k: {k} for k in KEYS}
    for a, b in pairs:
        if groups[a] is not groups[b]:
            joined = groups[a] | groups[b]
            for k in joined:
                groups[k] = joined
    return {k: frozenset(g) for k, g in groups.items()}


merge_pairs = st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS)), max_size=8)


@settings(max_examples=150, deadline=None)
@given(merge_pairs, st.data())
def test_any_merges_in_any_order_make_the_same_patients_without_a_loop(pairs, data) -> None:
    events = [merge(s, p) for s, p in pairs] + _patient_events(KEYS)
    arrival = data.draw(st.permutations(events))
    state, _ = _run(arrival)
    expected = _components([(s, p) for s, p in pairs])
    for key in KEYS:
        survivor = idn.resolve(state, key)
        assert set(idn.group(state, survivor)) == expected[key]
        assert set(idn.group(state, key)) == expected[key]
        assert idn.resolve(state, survivor) == survivor
    for key in KEYS:
        assert idn.find(state, "EMPI", f"E{key[2:]}") == (idn.resolve(state, key),)


@st.composite
def merge_forests(draw):
    """Consistent merges: each record merged away at most once, never in a circle."""
    pairs = []
    for i, key in enumerate(KEYS[1:], start=1):
        if draw(st.booleans()):
            pairs.append((draw(st.sampled_from(KEYS[:i])), key))
    return pairs


@settings(max_examples=150, deadline=None)
@given(merge_forests(), st.data())
def test_consistent_merges_give_the_same_survivors_whatever_the_order(pairs, data) -> None:
    events = [merge(s, p) for s, p in pairs] + _patient_events(KEYS)
    arrival = data.draw(st.permutations(events))
    state, decisions = _run(arrival)
    assert all(d.outcome is not Outcome.REFUSED for d in decisions)
    parent = {p: s for s, p in pairs}

    def root(key: str) -> str:
        while key in parent:
            key = parent[key]
        return key

    for key in KEYS:
        assert idn.resolve(state, key) == root(key)


@settings(max_examples=100, deadline=None)
@given(merge_pairs)
def test_each_merge_decision_says_which_records_moved(pairs) -> None:
    state = Identity()
    for s, p in pairs:
        before = state
        state, decision = idn.apply(state, event_entry(merge(s, p)))
        moved = {k for k in KEYS if idn.resolve(before, k) != idn.resolve(state, k)}
        if decision.outcome is Outcome.MERGED:
            assert set(decision.moved) == moved
            assert all(idn.resolve(state, k) == decision.survivor for k in moved)
        else:
            assert decision.outcome is Outcome.REFUSED and moved == set()
