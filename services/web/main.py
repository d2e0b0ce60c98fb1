"""``hl7bus service web``: the web front door under uvicorn until SIGTERM.

It starts only when Kafka and the registry answer (the access audit needs both), the
store opens and the port is free; what keeps it from starting is one sentence, exit 1.
uvicorn's own access log is off: a path names a patient, and logs carry no patient data.
"""

from __future__ import annotations

import logging
import socket

from hl7bus.devstack.secrets import token_secret_file
from hl7bus.errors import cannot_listen
from hl7bus.kafka import serde
from hl7bus.kafka.clients import BrokerWatch, require_reachable
from hl7bus.kafka.setup import register_record_schema
from hl7bus.kafka.topics import Topics
from hl7bus.logs import fields
from hl7bus.settings import (
    DevStackSettings,
    KafkaSettings,
    MllpSettings,
    RegistrySettings,
    WebSettings,
)

log = logging.getLogger("hl7bus.web")


def main(settings: WebSettings, kafka: KafkaSettings, registry: RegistrySettings) -> int:
    import uvicorn

    from hl7bus.mapping.profiles import load_profiles
    from hl7bus.services.timeline.store import open_store
    from hl7bus.services.web.alert_changes import AlertChanges
    from hl7bus.services.web.app import create_app
    from hl7bus.services.web.audit import AuditLog
    from hl7bus.services.web.metrics import WebMetrics
    from hl7bus.services.web.tokens import signing_secret

    dev = DevStackSettings()
    secret = signing_secret(settings, dev)
    # Dead letters are replayed through the MLLP connector's sender profiles.
    profiles = load_profiles(MllpSettings().profiles)
    if settings.token_secret is None:
        log.info("token secret of the local stack", extra=fields(file=str(token_secret_file(dev))))
    topics = Topics.with_prefix(kafka.topic_prefix)
    require_reachable(kafka)
    with serde.registry_errors(registry):
        client = serde.registry_client(registry)
        schema_id = register_record_schema(client, topics.audit, "AccessAudit")
        alert_schema_id = register_record_schema(client, topics.alerts, "ClinicalAlert")
    listener = _listen(settings.host, settings.port)
    store = open_store(settings.store) if settings.store else open_store()
    audit = AuditLog(kafka, topics.audit, schema_id, timeout_s=settings.audit_timeout_s)
    alert_changes = AlertChanges(
        kafka, topics.alerts, alert_schema_id, timeout_s=settings.alert_change_timeout_s
    )
    metrics = WebMetrics()
    watch = BrokerWatch(kafka, lambda up: metrics.kafka_up.set(1 if up else 0))
    watch.start()
    app = create_app(
        settings,
        store,
        audit,
        token_secret=secret,
        kafka_reachable=lambda: watch.reachable,
        metrics=metrics,
        alert_changes=alert_changes,
        kafka=kafka,
        registry=registry,
        profiles=profiles,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
    log.info(
        "listening",
        extra=fields(url=f"http://{settings.host}:{listener.getsockname()[1]}", store=store.url),
    )
    try:
        server.run(sockets=[listener])
    finally:
        alert_changes.close()
        audit.close()
        watch.stop()
        store.close()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The API's socket, bound before anything else starts: a busy port is one sentence.
    Made as TCP in so many words: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    connections of such a socket, and with it on, an answer written in two parts (its head,
    then its body) waits for the client's delayed ACK, 20 to 40 ms."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise cannot_listen(exc, "the web API", host, port, "HL7BUS_WEB_PORT or --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
