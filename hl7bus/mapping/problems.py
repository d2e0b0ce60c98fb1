"""The problem list: PPR^PC1 (problems added), PC2 (updated) and PC3 (deleted), one PRB per
problem."""

from __future__ import annotations

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import ClinicalEvent, EventType, Payload, Problem
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text

PROBLEM_EVENTS = {
    "PC1": EventType.PROBLEM_ADDED,
    "PC2": EventType.PROBLEM_UPDATED,
    "PC3": EventType.PROBLEM_REMOVED,
}


def problem(ctx: MessageContext, prb: Segment, notes: list[str]) -> Problem:
    code, system, display = values.coded(prb, 3)
    return Problem(
        problem_id=text(prb.get(4)),
        code=code,
        code_system=system,
        display=display,
        action=text(prb.get(1)),
        action_at=ctx.ts(prb.get(2)),
        status=values.coded_code(prb, 14),
        confirmation_status=values.coded_code(prb, 13),
        onset_at=ctx.ts(prb.get(16)),
        onset_text=text(prb.get(17)),
        established_at=ctx.ts(prb.get(7)),
        resolved_at=ctx.ts(prb.get(9)),
        notes=tuple(notes),
    )


def _problems(ctx: MessageContext, segments: list[Segment]) -> list[Problem]:
    """Each PRB with the NTEs right after it (the problem's notes).  The problem's roles,
    pathways, observations, goals and orders that may follow are not read."""
    found: list[tuple[Segment, list[str]]] = []
    previous = None
    for seg in segments:
        if seg.name == "PRB":
            found.append((seg, []))
        elif seg.name == "NTE" and found and previous in ("PRB", "NTE"):
            note = common.note_text(seg)
            if note is not None:
                found[-1][1].append(note)
            continue
        previous = seg.name
    return [problem(ctx, prb, notes) for prb, notes in found]


def map_problems(ctx: MessageContext) -> list[ClinicalEvent]:
    """PPR^PC1, PC2, PC3: one event per patient (PROBLEM_ADDED, PROBLEM_UPDATED,
    PROBLEM_REMOVED by the trigger) with its problems, at the first PRB-2 (else MSH-7)."""
    kind = PROBLEM_EVENTS[ctx.message.trigger_event]
    events = []
    for group in results.patient_groups(ctx):
        problems = _problems(ctx, group[1:])
        if not problems:
            raise MessageError(
                ErrorCode.SEGMENT_SEQUENCE,
                f"PPR^{ctx.message.trigger_event} holds no problem (no PRB segment after the "
                "PID), so it changes nothing.",
                segment="PRB",
                control_id=ctx.message.control_id or None,
            )
        pv1 = next((s for s in group if s.name == "PV1"), None)
        events.append(
            ctx.event(
                kind,
                common.patient(ctx, group[0]),
                occurred_at=next((p.action_at for p in problems if p.action_at), None)
                or ctx.event_time,
                encounter=common.encounter(ctx, pv1),
                payload=Payload(problems=tuple(problems)),
            )
        )
    return events
