"""The access audit fails closed: when Kafka does not acknowledge the audit's records within
``HL7BUS_WEB_AUDIT_TIMEOUT_S``, patient data is no longer served (503
``audit_unavailable``) and ``/healthz`` says so — until Kafka has them all.

The real app under uvicorn over a real SQLite store; its audit producer points at a port
where no broker answers."""

from __future__ import annotations

import time

import pytest

from hl7bus.services.web.app import create_app
from hl7bus.services.web.audit import AuditLog
from hl7bus.services.web.tokens import Role
from hl7bus.settings import KafkaSettings, WebSettings

from conftest import free_port
from web_support import SAMPLE, SECRET, filled_store, get, serving, token

pytestmark = pytest.mark.integration

AUDIT_TIMEOUT_S = 1.0


def test_patient_data_stops_while_the_audit_cannot_be_written(request, tmp_path):
    from hl7bus.services.timeline.store import open_store

    nowhere = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    audit = AuditLog(nowhere, "audit.access", schema_id=1, timeout_s=AUDIT_TIMEOUT_S)
    clinician = token(Role.CLINICIAN, "dr.closed")
    port = free_port()
    with filled_store(request, "sqlite", tmp_path) as url, open_store(url) as store:
        app = create_app(
            WebSettings(audit_timeout_s=AUDIT_TIMEOUT_S),
            store,
            audit,
            token_secret=SECRET,
            kafka_reachable=lambda: False,
        )
        try:
            with serving(app, port):
                # Served while the record has waited less than the timeout.
                assert get(port, f"/api/v1/patients/{SAMPLE}", clinician).status == 200
                assert audit.backlog == 1
                time.sleep(AUDIT_TIMEOUT_S + 0.5)
                for path in (
                    f"/api/v1/patients/{SAMPLE}",
                    f"/api/v1/patients/{SAMPLE}/timeline",
                    f"/api/v1/patients/{SAMPLE}/fhir",
                    "/api/v1/patients?identifier=NW100234",
                    "/api/v1/stream",
                ):
                    answer = get(port, path, clinician)
                    assert answer.status == 503, (path, answer.body)
                    assert answer.json()["error"] == "audit_unavailable"
                    assert answer.headers["retry-after"]
                health = get(port, "/healthz")
                assert health.status == 503
                assert health.json()["audit"] == "backed_up"
                assert health.json()["kafka"] == "unreachable"
                # Refusals are not queued behind the record Kafka has not taken.
                assert audit.backlog == 1
                # Who may not read patient data is told so first (and that is audited).
                forbidden = get(port, f"/api/v1/patients/{SAMPLE}", token(Role.OPERATOR))
                assert forbidden.status == 403
                assert audit.backlog == 2
        finally:
            assert audit.close(timeout_s=0.5) == 2, "the unacknowledged records are counted"
