"""A report carrying a whole document (a base64 PDF of a few megabytes in OBX-5) is stored
and acknowledged like any other message: the bus's topics accept records that large."""

from __future__ import annotations

import base64
import os
import socket

import pytest

from hl7bus.mllp.framing import MllpDecoder, frame

from conftest import read_topic

pytestmark = pytest.mark.integration


def _send(port: int, message: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(frame(message))
        decoder = MllpDecoder(1 << 20)
        while True:
            data = conn.recv(65536)
            assert data, "the connector closed the connection"
            found = decoder.feed(data)
            if found:
                return found[0].payload.decode()


def test_a_three_megabyte_pdf_report_is_stored_and_acknowledged(start_mllp, bus_topics):
    connector = start_mllp()
    pdf = base64.b64encode(os.urandom(2_300_000)).decode()  # about 3 MB of base64
    message = (
        "MSH|^~\\&|DOCUWRITE|HIM|HL7BUS|HOSPITAL|20261129113000||MDM^T02^MDM_T02|PDF0001|P|2.5.1\r"
        "EVN|T02|20261129113000\r"
        "PID|1||NW100377^^^NORTHWIND^MR||HADDAD^OMAR||19520930|M\r"
        "TXA|1|DS^Discharge summary|AP|20261129110000|||||||DOC88001||||||AU\r"
        f"OBX|1|ED|18842-5^Discharge summary^LN||^application^pdf^Base64^{pdf}||||||F\r"
    ).encode()
    assert len(message) > 3_000_000
    ack = _send(connector.port, message)
    assert "MSA|AA|PDF0001" in ack, ack
    (event,) = read_topic(bus_topics, bus_topics.topics.events, at_least=1)
    content = event.value["payload"]["document"]["content"]
    assert pdf in content
    (raw,) = read_topic(bus_topics, bus_topics.topics.raw, at_least=1)
    assert raw.value["raw"] == message
