"""The bus's topic names, one place, with the configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    raw: str = "hl7.raw"
    dlq: str = "hl7.dlq"
    events: str = "clinical.events"
    alerts: str = "clinical.alerts"
    audit: str = "audit.access"

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        base = cls()
        return cls(
            raw=prefix + base.raw,
            dlq=prefix + base.dlq,
            events=prefix + base.events,
            alerts=prefix + base.alerts,
            audit=prefix + base.audit,
        )

    def all(self) -> tuple[str, ...]:
        return (self.raw, self.dlq, self.events, self.alerts, self.audit)
