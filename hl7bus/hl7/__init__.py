"""Pure HL7 v2 reading for hl7bus: split a stream or file into messages, parse each.

>>> from hl7bus.hl7 import parse_message
>>> msg = parse_message(b"MSH|^~\\\\&|LAB|HOSP|||20240101||ORU^R01|42|P|2.5\\rPID|1||123^^^HOSP^MR")
>>> msg.message_type, msg.trigger_event, msg.segment("PID").get(3, 4)
('ORU', 'R01', 'HOSP')
"""

from hl7bus.hl7.batch import split_messages
from hl7bus.hl7.charset import DecodedText
from hl7bus.hl7.encoding import DEFAULT_ENCODING, Encoding
from hl7bus.hl7.escape import escape, unescape
from hl7bus.hl7.message import Message, Segment
from hl7bus.hl7.parse import parse_message

__all__ = [
    "DEFAULT_ENCODING",
    "DecodedText",
    "Encoding",
    "Message",
    "Segment",
    "escape",
    "parse_message",
    "split_messages",
    "unescape",
]
