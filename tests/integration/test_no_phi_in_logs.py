"""No log of any part of the bus carries patient data: a patient whose name, identifier,
birth date and street are unique markers goes through the whole local stack — the MLLP
connector, a dead letter, the timeline, an alert, the web API searched by that name — and
none of the markers is in any log the stack wrote (Kafka's and the registry's included)."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta

import pytest

from hl7bus.mllp.client import MllpClient

from mllp_support import wait_for

pytestmark = pytest.mark.integration


def _messages(family: str, mrn: str, street: str, run: str) -> list[bytes]:
    person = f"{family}^Quillon^Ambrose||19430717|M|||{street}^^Lowbridge^^04412"
    pid = f"PID|1||{mrn}^^^NORTHWARD^MR||{person}"
    segments = [
        [
            f"MSH|^~\\&|ADMITWISE|NORTHWARD|HL7BUS|NORTHWARD|20261201080000+0000||ADT^A01^ADT_A01|PHIA-{run}|P|2.5.1",
            "EVN|A01|20261201080000+0000",
            pid,
            "PV1|1|I|4W^401^A^NORTHWARD||||1234^Okafor^Ngozi",
        ],
        [
            f"MSH|^~\\&|CHEMLAB|NORTHWARD|HL7BUS|NORTHWARD|20261201083000+0000||ORU^R01^ORU_R01|PHIR-{run}|P|2.5.1",
            pid,
            "PV1|1|I|4W^401^A^NORTHWARD",
            "OBR|1|ORD-1^EMR|LAB-1^CHEMLAB|24320-4^Basic metabolic panel^LN|||"
            "20261201073000+0000||||||||||||||||F",
            "OBX|1|NM|2823-3^Potassium [Moles/volume] in Serum or Plasma^LN||6.9|mmol/L|3.5-5.1|"
            "HH|||F|||20261201073000+0000",
        ],
        [  # no PID-3: a dead letter, its bytes (and the name) kept on hl7.dlq, not in a log
            f"MSH|^~\\&|ADMITWISE|NORTHWARD|HL7BUS|NORTHWARD|20261201090000+0000||ADT^A08^ADT_A01|PHIB-{run}|P|2.5.1",
            "EVN|A08|20261201090000+0000",
            f"PID|1||||{person}",
            "PV1|1|I|4W^401^A^NORTHWARD",
        ],
    ]
    return [("\r".join(s) + "\r").encode() for s in segments]


async def _send(host: str, port: int, messages: list[bytes]) -> list[str]:
    codes = []
    async with await MllpClient.connect(host, port, timeout_s=30) as client:
        for message in messages:
            ack = (await client.send(message)).decode()
            codes.append(next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")[1])
    return codes


def _get(url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, {}


def test_no_log_of_the_stack_carries_a_patients_data(bus):
    if bus.origin != "local dev stack":
        pytest.skip(
            f"the logs read are the local dev stack's; the broker here is from {bus.origin}"
        )
    from hl7bus.services.web.tokens import Role, create, signing_secret
    from hl7bus.settings import DevStackSettings, WebSettings

    dev = DevStackSettings()
    run = uuid.uuid4().hex[:8].upper()
    family, mrn, street = f"Phimarker{run.lower()}", f"PHI{run}", f"{run} Markerlane"
    markers = (family, mrn, street)  # the run id alone is in control ids, which are no PHI

    assert asyncio.run(_send(dev.host, dev.mllp_port, _messages(family, mrn, street, run))) == [
        "AA",
        "AA",
        "AE",
    ]

    token = create(
        signing_secret(WebSettings(), dev),
        name="phi-test",
        role=Role.CLINICIAN,
        lifetime=timedelta(minutes=10),
    )
    api = f"{dev.web_url}/api/v1"
    key = urllib.parse.quote(f"NORTHWARD|{mrn}", safe="")

    def timeline_and_alert() -> bool:
        status, body = _get(f"{api}/patients/{key}/timeline", token)
        if status != 200 or len(body["entries"]) < 2:
            return False
        status, body = _get(f"{api}/alerts?patient_key={key}", token)
        return status == 200 and any(a["rule"] == "critical-value" for a in body["alerts"])

    wait_for(timeline_and_alert, 30, "the patient's timeline and critical-value alert")
    status, found = _get(f"{api}/patients?name={family}", token)
    assert status == 200 and [p["patient_key"] for p in found["patients"]] == [f"NORTHWARD|{mrn}"]
    assert _get(f"{api}/patients/{key}/fhir", token)[0] == 200
    assert _get(f"{api}/patients?identifier={mrn}", token)[0] == 200

    logs = sorted((dev.state_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"kafka", "registry", "mllp", "timeline", "alerts", "web"}
    for log in logs:
        text = log.read_text("utf-8", "replace")
        for marker in markers:
            assert marker not in text, f"{marker!r} is in {log}"
