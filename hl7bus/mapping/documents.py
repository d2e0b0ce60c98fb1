"""Medical documents: MDM^T01/T02 (notification, with content), T03–T11 (status changes)."""

from __future__ import annotations

from hl7bus.events.model import ClinicalEvent, Document, EventType, Payload
from hl7bus.mapping import common, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text


def map_document(ctx: MessageContext) -> list[ClinicalEvent]:
    m = ctx.message
    txa = ctx.require("TXA")
    content_parts = [
        values.whole(obx, 5, rep) for obx in m.all("OBX") for rep in range(len(obx.repetitions(5)))
    ]
    # every NTE, those after a content OBX (its comments) too: the OBX are the content
    notes = tuple(n for n in (common.note_text(s) for s in m.all("NTE")) if n)
    document = Document(
        document_id=text(txa.get(12)) or text(txa.get(12, 2)),
        type=values.coded_text(txa, 2),
        status=text(txa.get(17)),
        activity_at=ctx.ts(txa.get(4)),
        # TXA-9, the originator: who dictated or wrote it (TXA-5 is who performed the
        # activity the document is about, not its author)
        author=values.provider(txa, 9),
        content=text("\n".join(content_parts)),
    )
    kind = (
        EventType.DOCUMENT_ADDED
        if m.trigger_event in ("T01", "T02")
        else EventType.DOCUMENT_UPDATED
    )
    return [
        ctx.event(
            kind,
            common.required_patient(ctx),
            occurred_at=document.activity_at or ctx.recorded_at,
            encounter=common.encounter(ctx, m.segment("PV1")),
            payload=Payload(document=document, notes=notes),
        )
    ]
