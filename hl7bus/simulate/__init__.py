"""A simulated hospital: a reproducible HL7 v2 feed from the vendor systems of Ashgrove
General Hospital, made up — patients, clinicians and identifiers are invented.

Pure: it writes messages and sends none (``hl7bus simulate`` sends them over MLLP, one
connection per vendor system).  Registrations, admissions, transfers, discharges and
readmissions, merges of duplicate records, orders and laboratory results (some critical),
vital signs that sometimes deteriorate to a NEWS2 of 7 or more, medications, immunizations,
appointments and documents, each written by the vendor system that sends it, with its quirks
(:data:`VENDORS`; their sender profiles are ``hl7bus/samples/profiles/ashgrove-*.toml``).

    from itertools import islice
    from hl7bus.simulate import feed, messages

    for message in islice(feed(seed=7, patients=40), 1000):
        message.vendor, message.data, message.scenario, message.broken
    load = list(islice(messages(seed=7), 10_000))     # (vendor, bytes): a benchmark's load

The same seed and census give the same bytes.
"""

from .feed import SimulatedMessage, feed, messages
from .hospital import HOSPITAL, START, VENDORS, ZONE, Vendor
from .stories import Scenario

__all__ = [
    "HOSPITAL",
    "START",
    "VENDORS",
    "ZONE",
    "Scenario",
    "SimulatedMessage",
    "Vendor",
    "feed",
    "messages",
]
