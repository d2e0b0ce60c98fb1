"""``/api/v1/operators``: figures of the bus for operators — no patient data, so no access
audit; roles ``operator`` and ``admin``.

- ``/connectors``: per connector, its totals since it started (messages by
ACK code, dead letters by error, events, open connections, mean ACK latency) and, from the
readings of its ``/metrics`` that the front door keeps (:mod:`.connector_watch`), its rates
over time: messages/s, ACK codes/s, dead letters/s and the mean ACK latency of each
interval;
- ``/senders``: per sender of each connector, its messages by ACK code, its dead letters by
error, when its last message came, and whether it stands out (every message of the last
minutes rejected, or silent for long);
- ``/lag``: each consumer group's lag on the bus's topics, per partition;
- ``/alarms``: the alarms on lag and on the dead-letter rate, and their starts and clears.

The dead letters themselves hold patient data: :mod:`.dead_letters` serves them, audited.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from hl7bus.services.web.auth import operations
from hl7bus.services.web.bus_watch import BusWatch
from hl7bus.services.web.connector_figures import (
    ConnectorReading,
    Rates,
    SenderFigures,
    sender_figures,
    series,
)
from hl7bus.services.web.connector_watch import ConnectorWatch
from hl7bus.services.web.patients import refusal
from hl7bus.services.web.tokens import Principal

router = APIRouter(prefix="/api/v1/operators", tags=["operators"])

ERRORS = {
    400: refusal("a parameter that is not valid"),
    401: refusal("no token, or one that is not valid"),
    403: refusal("the token's role is neither operator nor admin"),
}


class ConnectorPoint(BaseModel):
    """What one connector did between two readings of its metrics."""

    at: str = Field(description="the later reading's time, ISO 8601")
    t: float = Field(description="the same, in seconds since 1970 (for charts)")
    messages_per_s: float
    acks_per_s: dict[str, float] = Field(description="by ACK code")
    dead_letters_per_s: float
    ack_latency_ms: float | None = Field(
        description="the mean ACK latency of the messages answered in between; null when none"
    )


class ConnectorFigures(BaseModel):
    """One connector: its totals since it started, and its rates over time."""

    connector: str = Field(examples=["mllp:dev-mllp"])
    messages: int = Field(description="messages answered")
    acks: dict[str, int] = Field(description="messages answered, by ACK code")
    dead_letters: int
    rejected: dict[str, int] = Field(description="dead letters by error code (those above 0)")
    events: int = Field(description="clinical events produced")
    connections: int = Field(description="open connections")
    kafka_reachable: bool | None
    ack_latency_ms: float | None = Field(description="the mean ACK latency since it started")
    series: list[ConnectorPoint] = Field(description="oldest first")


class FigureSource(BaseModel):
    """A ``/metrics`` URL the front door reads."""

    url: str
    reachable: bool | None = Field(description="null until it was first read")
    read_at: str | None = Field(description="when it last answered")
    error: str | None = Field(description="why the last reading failed")


class OperatorFigures(BaseModel):
    interval_s: float = Field(description="how often each source is read")
    sources: list[FigureSource]
    connectors: list[ConnectorFigures]


@router.get(
    "/connectors",
    response_model=OperatorFigures,
    responses=ERRORS,
    summary="Each connector's messages, ACK codes, dead letters and ACK latency, over time",
)
def connectors(
    request: Request,
    _principal: Annotated[Principal, Depends(operations)],
    minutes: Annotated[
        int, Query(ge=1, le=60, description="how far back the series go, in minutes")
    ] = 15,
) -> OperatorFigures:
    watches: list[ConnectorWatch] = request.app.state.connector_watches
    sources: list[FigureSource] = []
    figures: list[ConnectorFigures] = []
    interval = min((w.interval_s for w in watches), default=0.0)
    for watch in watches:
        state = watch.state
        sources.append(
            FigureSource(
                url=state.url,
                reachable=state.reachable,
                read_at=_iso(state.read_at) if state.read_at is not None else None,
                error=state.error,
            )
        )
        readings = list(watch.readings)
        if not readings:
            continue
        since = readings[-1].at - 60 * minutes
        recent = [r for r in readings if r.at >= since]
        for latest in readings[-1].connectors:
            figures.append(_figures(latest, series(recent, latest.connector)))
    return OperatorFigures(interval_s=interval, sources=sources, connectors=figures)


def _figures(latest: ConnectorReading, points: list[Rates]) -> ConnectorFigures:
    return ConnectorFigures(
        connector=latest.connector,
        messages=round(latest.messages),
        acks={code: round(n) for code, n in latest.acks.items()},
        dead_letters=round(latest.dead_letters),
        rejected={code: round(n) for code, n in latest.rejected.items() if n > 0},
        events=round(latest.events),
        connections=round(latest.connections),
        kafka_reachable=latest.kafka_reachable,
        ack_latency_ms=latest.mean_latency_ms,
        series=[
            ConnectorPoint(
                at=_iso(p.at),
                t=p.at,
                messages_per_s=p.messages_per_s,
                acks_per_s=dict(p.acks_per_s),
                dead_letters_per_s=p.dead_letters_per_s,
                ack_latency_ms=p.ack_latency_ms,
            )
            for p in points
        ],
    )


# -- senders ------------------------------------------------------------------------------------


class SenderOut(BaseModel):
    """One sender of one connector: MSH-3^MSH-4 as the sender profiles match them."""

    connector: str = Field(examples=["mllp:dev-mllp"])
    sender: str = Field(
        examples=["LABSTAR^NORTHWIND"],
        description="MSH-3^MSH-4; 'unknown' without a readable header, 'other' past the "
        "connector's 200 senders",
    )
    messages: int = Field(description="messages since the connector started")
    acks: dict[str, int] = Field(
        description="messages by ACK code ('none': no ACK, the files connector's)"
    )
    dead_letters: int
    rejected: dict[str, int] = Field(description="dead letters by error code")
    last_message_at: str | None = Field(description="ISO 8601")
    seconds_since_last: float | None = Field(description="at the time of the answer")
    recent_messages: int | None = Field(
        description="messages in the last `minutes`; null until the front door has read "
        "the connector twice"
    )
    recent_rejections: int | None = Field(
        description="those answered AE, AR, CE or CR or sent to the dead-letter topic"
    )
    state: str = Field(
        examples=["ok", "rejecting", "silent"],
        description="rejecting: every message of the last `minutes` rejected; silent: no "
        "message for more than `silent_minutes`",
    )
    why: str = Field(description="why it stands out, in one sentence ('' when it does not)")


class SendersOut(BaseModel):
    interval_s: float = Field(description="how often the connectors' metrics are read")
    minutes: int = Field(description="the window of recent_messages and of 'rejecting'")
    silent_minutes: int = Field(description="a sender quiet for longer is 'silent'")
    senders: list[SenderOut] = Field(
        description="those that stand out first (rejecting, then silent), then by connector "
        "and sender"
    )


_ORDER = {"rejecting": 0, "silent": 1, "ok": 2}


@router.get(
    "/senders",
    response_model=SendersOut,
    responses=ERRORS,
    summary="Each sender's messages, ACK codes, dead letters by error and last message",
)
def senders(
    request: Request,
    _principal: Annotated[Principal, Depends(operations)],
    minutes: Annotated[
        int,
        Query(
            ge=1,
            le=60,
            description="a sender whose every message of the last N minutes was rejected "
            "is 'rejecting'",
        ),
    ] = 5,
    silent_minutes: Annotated[
        int, Query(ge=1, le=10080, description="a sender quiet for longer is 'silent'")
    ] = 60,
) -> SendersOut:
    now = time.time()
    watches: list[ConnectorWatch] = request.app.state.connector_watches
    found: list[SenderFigures] = []
    for watch in watches:
        found += sender_figures(list(watch.readings), 60 * minutes, 60 * silent_minutes, now)
    found.sort(key=lambda f: (_ORDER[f.state.value], f.connector, f.sender.sender))
    return SendersOut(
        interval_s=min((w.interval_s for w in watches), default=0.0),
        minutes=minutes,
        silent_minutes=silent_minutes,
        senders=[_sender_out(f) for f in found],
    )


def _sender_out(f: SenderFigures) -> SenderOut:
    s = f.sender
    return SenderOut(
        connector=f.connector,
        sender=s.sender,
        messages=round(s.messages),
        acks={code: round(n) for code, n in s.acks.items()},
        dead_letters=round(s.dead_letters),
        rejected={code: round(n) for code, n in s.rejected.items() if n > 0},
        last_message_at=_iso(s.last_message_at) if s.last_message_at is not None else None,
        seconds_since_last=f.seconds_since_last,
        recent_messages=None if f.recent_messages is None else round(f.recent_messages),
        recent_rejections=None if f.recent_rejections is None else round(f.recent_rejections),
        state=f.state.value,
        why=f.why,
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


# -- lag ----------------------------------------------------------------------------------------


class PartitionLagOut(BaseModel):
    topic: str
    partition: int
    committed: int | None = Field(description="the group's committed offset; null: none")
    end: int | None = Field(description="the partition's last stable offset")
    lag: int | None


class GroupLagOut(BaseModel):
    group: str
    lag: int = Field(description="records behind, over every partition of the bus it reads")
    partitions: list[PartitionLagOut]


class LagOut(BaseModel):
    interval_s: float | None = Field(description="how often the lag is read; null: it is not")
    read_at: str | None = Field(description="when it was last read")
    error: str | None = Field(description="why the last reading failed")
    groups: list[GroupLagOut]


def _watch(request: Request) -> BusWatch | None:
    return request.app.state.bus_watch


@router.get(
    "/lag",
    response_model=LagOut,
    responses=ERRORS,
    summary="Each consumer group's lag on the bus's topics, per partition",
)
def lag(request: Request, _principal: Annotated[Principal, Depends(operations)]) -> LagOut:
    watch = _watch(request)
    if watch is None:
        return LagOut(interval_s=None, read_at=None, error=NOT_WATCHING, groups=[])
    return LagOut(
        interval_s=watch.interval_s,
        read_at=_iso(watch.lag_read_at) if watch.lag_read_at is not None else None,
        error=watch.lag_error,
        groups=[
            GroupLagOut(
                group=g.group,
                lag=g.lag,
                partitions=[
                    PartitionLagOut(
                        topic=p.topic,
                        partition=p.partition,
                        committed=p.committed,
                        end=p.end,
                        lag=p.lag,
                    )
                    for p in g.partitions
                ],
            )
            for g in watch.groups
        ],
    )


NOT_WATCHING = "This front door does not watch the bus (it was started without Kafka's settings)."


# -- alarms -------------------------------------------------------------------------------------


class AlarmOut(BaseModel):
    kind: str = Field(examples=["lag", "dead_letters"])
    active: bool
    since: str | None = Field(description="when it last started or cleared")
    value: float | None = Field(description="the last value read")
    threshold: float


class AlarmChangeOut(BaseModel):
    id: int = Field(description="increasing: a client shows each change once")
    kind: str
    started: bool = Field(description="true: the alarm started; false: it cleared")
    at: str
    value: float
    threshold: float
    message: str


class AlarmsOut(BaseModel):
    interval_s: float | None = Field(description="how often the alarms are evaluated")
    alarms: list[AlarmOut]
    changes: list[AlarmChangeOut] = Field(description="the latest starts and clears, oldest first")


@router.get(
    "/alarms",
    response_model=AlarmsOut,
    responses=ERRORS,
    summary="The alarms on consumer lag and on dead letters, with their starts and clears",
)
def alarms(request: Request, _principal: Annotated[Principal, Depends(operations)]) -> AlarmsOut:
    watch = _watch(request)
    if watch is None:
        return AlarmsOut(interval_s=None, alarms=[], changes=[])
    return AlarmsOut(
        interval_s=watch.interval_s,
        alarms=[
            AlarmOut(
                kind=a.kind.value,
                active=a.active,
                since=_iso(a.since) if a.since is not None else None,
                value=a.value,
                threshold=a.threshold,
            )
            for a in watch.alarms.values()
        ],
        changes=[
            AlarmChangeOut(
                id=n.id,
                kind=n.change.kind.value,
                started=n.change.started,
                at=_iso(n.change.at),
                value=n.change.value,
                threshold=n.change.threshold,
                message=n.change.message,
            )
            for n in watch.changes
        ],
    )
