"""What operators ask of the bus, as functions of the settings that return frozen values and
print nothing: the ``hl7bus`` operators' commands (:mod:`hl7bus.commands.operators`) and
the web dashboard call them alike.

- :func:`describe_topics` — topics, partitions, records, retention, schema, compatibility;
- :func:`group_lags` — consumer groups' lag per partition;
- :func:`read_records` — a topic's records from a start, by patient and type, following;
- :func:`dead_letters`, :func:`dead_letter` — the dead letters; :func:`replay` replays them;
- :func:`replay_raw` — ``hl7.raw`` again through the current mapping;
- :func:`find` — a patient's or a message's records across the topics;
- :func:`status` — every part's health, address and version.

Every failure that is not a bug is an :class:`~hl7bus.errors.Hl7BusError` of one sentence
(no broker, no such topic, no such dead letter); a value an operator typed that does not
fit is a :class:`~hl7bus.errors.UsageError`.
"""

from hl7bus.operators.dlq import DeadLetterView, dead_letter, dead_letters
from hl7bus.operators.dlq_replay import ReplayOutcome, ReplayReport, replay
from hl7bus.operators.find import Found, find
from hl7bus.operators.lag import PartitionLag, group_lags
from hl7bus.operators.records import read_records
from hl7bus.operators.replay import RawReplayReport, replay_raw
from hl7bus.operators.status import Component, status
from hl7bus.operators.times import Start, parse_start, parse_time
from hl7bus.operators.topics import TopicView, describe_topics
from hl7bus.operators.views import RecordView

__all__ = [
    "Component",
    "DeadLetterView",
    "Found",
    "PartitionLag",
    "RawReplayReport",
    "RecordView",
    "ReplayOutcome",
    "ReplayReport",
    "Start",
    "TopicView",
    "dead_letter",
    "dead_letters",
    "describe_topics",
    "find",
    "group_lags",
    "parse_start",
    "parse_time",
    "read_records",
    "replay",
    "replay_raw",
    "status",
]
