"""The ``hl7bus`` command: one entry point, one sub-command per job.

Settings are read here, once, and passed down; every expected failure is an
:class:`~hl7bus.errors.Hl7BusError` and ends in one sentence on stderr, never a traceback:
``hl7bus: <sentence>``, or, from a connector or ``setup`` (whose stderr is a stream of JSON
log lines, librdkafka's included), one JSON log line at level ``error``.

Exit status: 0 done, 1 failed (the sentence says why), 2 a usage error — a bad option or
a bad ``HL7BUS_*`` setting (commands that check input also use 2 for rejected input),
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hl7bus.errors import Hl7BusError, InvalidSetting, UsageError

Command = Callable[[argparse.Namespace], int]

USAGE_ERROR = 2


def _dev(args: argparse.Namespace) -> int:
    from hl7bus.devstack.stack import LocalStack
    from hl7bus.settings import DevStackSettings

    settings = DevStackSettings()
    stack = LocalStack(settings)
    if args.action == "up":
        from hl7bus.commands.run import start_stack

        start_stack(settings)
    elif args.action == "down":
        stack.down()
    else:
        status = stack.status()
        print(status.describe())
        return 0 if status.running else 3
    return 0


def _setup(args: argparse.Namespace) -> int:
    import time

    from confluent_kafka import KafkaException

    from hl7bus.kafka.clients import require_reachable
    from hl7bus.kafka.serde import registry_errors
    from hl7bus.kafka.setup import prepare_bus
    from hl7bus.settings import KafkaSettings, RegistrySettings

    kafka, registry = KafkaSettings(), RegistrySettings()
    deadline = time.monotonic() + args.wait
    while True:
        try:
            require_reachable(kafka, timeout_s=5)  # quietly, while the cluster starts
            with registry_errors(registry):
                prepare_bus(kafka, registry, partitions=args.partitions)
            return 0
        except Exception as exc:  # the cluster may still be starting: try again
            if time.monotonic() > deadline:
                reason = exc.args[0].str() if isinstance(exc, KafkaException) else str(exc)
                raise Hl7BusError(
                    f"could not prepare the bus at {kafka.bootstrap_servers} and {registry.url} "
                    f"within {args.wait:.0f} s: {reason}"
                ) from exc
            time.sleep(2)


def _translate(args: argparse.Namespace) -> int:
    from hl7bus.commands.translate import run

    return run(args.files, args.profile, sys.stdout, sys.stderr, strict=args.strict)


def _connector(args: argparse.Namespace) -> int:
    from hl7bus.settings import KafkaSettings, MllpSettings, RegistrySettings

    kafka, registry = KafkaSettings(), RegistrySettings()
    if args.kind == "mllp":
        from hl7bus.connectors.mllp.main import main

        overrides = {
            k: v
            for k, v in (("host", args.host), ("port", args.port), ("name", args.name))
            if v is not None
        }
        if args.profile:
            overrides["profiles"] = args.profile
        if args.metrics_port is not None:
            overrides["metrics_port"] = args.metrics_port or None
        return main(MllpSettings(**overrides), kafka, registry)
    from hl7bus.connectors.files.main import main as files_main
    from hl7bus.settings import FileSettings

    overrides = {"directory": args.directory}
    if args.profile:
        overrides["profiles"] = args.profile
    if args.name:
        overrides["name"] = args.name
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port or None
    return files_main(FileSettings(**overrides), kafka, registry)


def _demo(args: argparse.Namespace) -> int:
    from hl7bus.commands.demo import run

    return run(args.host, args.port)


def _run(args: argparse.Namespace) -> int:
    from hl7bus.commands.run import run

    if args.rate <= 0:
        raise UsageError(f"--rate must be above 0 (messages/s), not {args.rate:g}")
    return run(args.rate, args.seed, demo=not args.no_demo)


def _simulate(args: argparse.Namespace) -> int:
    import secrets

    from hl7bus.commands.simulate import Options, run
    from hl7bus.settings import DevStackSettings

    dev = DevStackSettings()
    options = Options(
        host=args.host or dev.host,
        port=args.port or dev.mllp_port,
        rate=args.rate,
        duration=args.duration,
        patients=args.patients,
        seed=args.seed if args.seed is not None else secrets.randbelow(1_000_000),
        timeout_s=args.timeout,
    )
    return run(options, sys.stdout, sys.stderr, as_json=args.json)


def _positive(kind: Callable[[str], float | int]) -> Callable[[str], float | int]:
    def read(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0 (it is {text})")
        return value

    return read


def _send(args: argparse.Namespace) -> int:
    from hl7bus.commands.send import Target, run

    if args.key is not None and args.cert is None:
        raise Hl7BusError("--key needs --cert")
    target = Target(
        args.host,
        args.port,
        args.timeout,
        args.tls or bool(args.ca or args.cert),
        args.ca,
        args.cert,
        args.key,
    )
    return run(args.files, target, sys.stdout, sys.stderr)


def _service(args: argparse.Namespace) -> int:
    from hl7bus.settings import KafkaSettings, RegistrySettings

    kafka, registry = KafkaSettings(), RegistrySettings()
    if args.service == "timeline":
        from hl7bus.services.timeline.consumer import main as timeline_main
        from hl7bus.settings import TimelineSettings

        overrides = {k: v for k, v in (("store", args.store),) if v is not None}
        if args.metrics_port is not None:
            overrides["metrics_port"] = args.metrics_port or None
        return timeline_main(TimelineSettings(**overrides), kafka, registry, rebuild=args.rebuild)
    if args.service == "alerts":
        from hl7bus.services.alerts.service import main as alerts_main
        from hl7bus.settings import AlertsSettings

        overrides: dict = {k: v for k, v in (("rules", args.rules),) if v is not None}
        if args.metrics_port is not None:
            overrides["metrics_port"] = args.metrics_port or None
        return alerts_main(AlertsSettings(**overrides), kafka, registry)
    if args.service == "web":
        from hl7bus.services.web.main import main as web_main
        from hl7bus.settings import WebSettings

        overrides = {
            k: v
            for k, v in (("host", args.host), ("port", args.port), ("store", args.store))
            if v is not None
        }
        return web_main(WebSettings(**overrides), kafka, registry)
    raise Hl7BusError(f"no such service: {args.service}")


def _token(args: argparse.Namespace) -> int:
    from hl7bus.services.web.tokens import Role, create, parse_duration, signing_secret
    from hl7bus.settings import DevStackSettings, WebSettings

    lifetime = parse_duration(args.expires)
    secret = signing_secret(WebSettings(), DevStackSettings())
    print(create(secret, name=args.name, role=Role(args.role), lifetime=lifetime))
    return 0


def _operators(args: argparse.Namespace) -> int:
    """``tail``, ``topics``, ``lag``, ``find``, ``status``, ``dlq ...`` and ``replay``."""
    from hl7bus.commands import dead_letters, operators

    verbs: dict[str, Command] = {
        "tail": operators.tail,
        "topics": operators.topics,
        "lag": operators.lag,
        "find": operators.find,
        "status": operators.status,
        "list": dead_letters.dlq_list,
        "show": dead_letters.dlq_show,
        "replay-dlq": dead_letters.dlq_replay,
        "replay": dead_letters.replay_raw,
    }
    return verbs[args.verb](args)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default after its help, unless it has none or the help says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hl7bus")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hl7bus",
        description="HL7 v2 feeds in, typed Avro clinical events on Kafka out. Settings are "
        "HL7BUS_* environment variables, read once at start.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=description or help[:1].upper() + help[1:] + ".",
            formatter_class=_Help,
        )

    dev = command(
        "dev",
        "run a local Kafka, schema registry, MLLP connector and services on loopback "
        "(no Docker needed)",
        "Run Apache Kafka, the schema registry, the sample hospital's MLLP connector, the "
        "timeline service and the web front door on loopback, for development. Settings: "
        "HL7BUS_DEV_* (ports, HL7BUS_DEV_HOME for the cache, data and logs).",
    )
    actions = dev.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, help in (
        (
            "up",
            "fetch Kafka and the registry (once), start them, the MLLP connector, the "
            "timeline service and the web front door, create the topics and register the "
            "schemas",
        ),
        ("down", "stop what `dev up` started, cleanly; data and logs stay"),
        ("status", "show what runs where; exit 3 when something is stopped"),
    ):
        actions.add_parser(
            action,
            help=help,
            description=help[:1].upper() + help[1:] + ".",
            formatter_class=_Help,
        )
    dev.set_defaults(run=_dev)

    setup = command(
        "setup",
        "create the bus's topics and register its schemas on a running cluster",
        "Create the bus's topics (HL7BUS_KAFKA_*) and register their schemas in the registry "
        "(HL7BUS_REGISTRY_*); existing ones are kept.",
    )
    setup.add_argument("--partitions", type=int, default=3, help="partitions of each new topic")
    setup.add_argument(
        "--wait", type=float, default=120.0, help="seconds to keep trying while the cluster starts"
    )
    setup.set_defaults(run=_setup, json_logs=True)

    translate = command(
        "translate",
        "translate HL7 v2 files (single, batch or MLLP-framed) into JSON events",
        "Print one JSON event per line on stdout; one JSON error per rejected "
        "message on stderr. Exit 0 when all translated, 2 when some were rejected.",
    )
    translate.add_argument("files", nargs="+", metavar="FILE", help="a file, or - for stdin")
    translate.add_argument(
        "--profile",
        type=Path,
        action="append",
        default=[],
        help="a sender profile file or a folder of them, repeatable "
        "(default: none; every sender gets the default profile)",
    )
    translate.add_argument(
        "--strict",
        action="store_true",
        help="also check each message against its version of the standard "
        "(message structure, lengths, tables; slow) and reject what breaks it",
    )
    translate.set_defaults(run=_translate)

    demo = command("demo", "play the sample feed into MLLP and show what landed")
    demo.add_argument(
        "--host", help="the MLLP connector's host (default: HL7BUS_DEV_HOST, else 127.0.0.1)"
    )
    demo.add_argument(
        "--port", type=int, help="its port (default: HL7BUS_DEV_MLLP_PORT, else 2575)"
    )
    demo.set_defaults(run=_demo)

    run = command(
        "run",
        "the whole bus here, a simulated hospital feeding it, followed until Ctrl-C",
        "Start what is not running of the local stack (`hl7bus dev up`), play the sample "
        "feed (`hl7bus demo`), print the dashboard's address and an operator token, run the "
        "simulated hospital (`hl7bus simulate`) and follow what happens until Ctrl-C, which "
        "stops the simulator and what this run started. `make run` runs it.",
    )
    run.add_argument(
        "--rate", type=float, default=5.0, help="the simulated hospital's messages per second"
    )
    run.add_argument(
        "--seed", type=int, help="the simulated hospital's seed (default: the time of the run)"
    )
    run.add_argument("--no-demo", action="store_true", help="do not play the sample feed first")
    run.set_defaults(run=_run)

    simulate = command(
        "simulate",
        "send a simulated hospital's HL7 over MLLP, one connection per vendor system",
        "Send the feed of Ashgrove General, a made-up hospital (registrations, admissions, "
        "transfers, discharges, readmissions, merges, orders, results, vital signs, "
        "medications, immunizations, appointments, documents, and now and then a broken "
        "message), from its eight vendor systems, each on its own MLLP connection, at --rate "
        "messages a second, until --duration ends or Ctrl-C; then a summary per vendor. The "
        "same --seed and --patients give the same messages. Exit 0 when every answer was the "
        "one expected (a broken message's AE included), 2 when some were not, 1 when no "
        "connector answers.",
    )
    simulate.add_argument(
        "--rate",
        type=_positive(float),
        default=10.0,
        metavar="N",
        help="messages a second, overall",
    )
    simulate.add_argument(
        "--duration",
        type=_positive(float),
        metavar="S",
        help="seconds to run (default: until Ctrl-C)",
    )
    simulate.add_argument(
        "--patients",
        type=_positive(int),
        default=40,
        metavar="N",
        help="patients in care at a time",
    )
    simulate.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="the seed of the hospital's story (default: a new one each run, printed)",
    )
    simulate.add_argument(
        "--host", help="the MLLP connector's host (default: HL7BUS_DEV_HOST, else 127.0.0.1)"
    )
    simulate.add_argument(
        "--port", type=int, help="its port (default: HL7BUS_DEV_MLLP_PORT, else 2575)"
    )
    simulate.add_argument(
        "--timeout",
        type=_positive(float),
        default=30.0,
        metavar="S",
        help="seconds to wait for each ACK",
    )
    simulate.add_argument(
        "--json", action="store_true", help="print the summary as one JSON document"
    )
    simulate.set_defaults(run=_simulate)

    connector = command(
        "connector",
        "run an inbound connector (mllp, files)",
        "Run an inbound connector until SIGTERM. Its logs are JSON lines on stderr; when it "
        "cannot start it says why in one of them and exits 1.",
    )
    kinds = connector.add_subparsers(dest="kind", required=True, metavar="KIND")

    def kind(name: str, help: str) -> argparse.ArgumentParser:
        parser = kinds.add_parser(
            name, help=help, description=help[:1].upper() + help[1:] + ".", formatter_class=_Help
        )
        parser.set_defaults(run=_connector, json_logs=True)
        return parser

    mllp = kind("mllp", "listen for HL7 v2 over MLLP (settings: HL7BUS_MLLP_*)")
    mllp.add_argument(
        "--host", help="address to listen on (default: HL7BUS_MLLP_HOST, else 127.0.0.1)"
    )
    mllp.add_argument(
        "--port", type=int, help="port to listen on (default: HL7BUS_MLLP_PORT, else 2575)"
    )
    mllp.add_argument(
        "--name",
        help="connector name, in records and metrics (default: HL7BUS_MLLP_NAME, else mllp)",
    )
    mllp.add_argument(
        "--metrics-port",
        type=int,
        help="port of /metrics and /healthz; 0 turns them off "
        "(default: HL7BUS_MLLP_METRICS_PORT, else 9464)",
    )
    mllp.add_argument(
        "--profile",
        type=Path,
        action="append",
        default=[],
        help="a sender profile file or folder, repeatable "
        "(default: HL7BUS_MLLP_PROFILES, else the default profile)",
    )
    files = kind("files", "pick up HL7 v2 files from a folder (settings: HL7BUS_FILES_*)")
    files.add_argument(
        "directory", type=Path, help="the pickup folder; done/ and error/ are made in it"
    )
    files.add_argument(
        "--name",
        help="connector name, in records and metrics (default: HL7BUS_FILES_NAME, else files)",
    )
    files.add_argument(
        "--profile",
        type=Path,
        action="append",
        default=[],
        help="a sender profile file or folder, repeatable "
        "(default: HL7BUS_FILES_PROFILES, else the default profile)",
    )
    files.add_argument(
        "--metrics-port",
        type=int,
        help="port of /metrics and /healthz; 0 turns them off "
        "(default: HL7BUS_FILES_METRICS_PORT, else off)",
    )

    send = command(
        "send",
        "send HL7 v2 files to an MLLP listener, one message at a time, and count the ACKs",
        "Split the files into messages (single, batch or MLLP-framed), send each "
        "over one MLLP connection after the previous one's ACK, and report the ACK codes. "
        "Exit 0 when all were AA/CA, 2 when some were not, 1 when the connection failed.",
    )
    send.add_argument("files", nargs="+", type=Path, metavar="FILE", help="the files to send")
    send.add_argument("--host", default="127.0.0.1", help="the MLLP listener's host")
    send.add_argument("--port", type=int, default=2575, help="its port")
    send.add_argument("--tls", action="store_true", help="connect with TLS")
    send.add_argument(
        "--ca",
        type=Path,
        help="CA file to verify the listener with, implies --tls (default: the system's CAs)",
    )
    send.add_argument(
        "--cert", type=Path, help="client certificate, for mutual TLS (default: none)"
    )
    send.add_argument(
        "--key",
        type=Path,
        help="the client certificate's private key (default: in the --cert file)",
    )
    send.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the connection and for each ACK",
    )
    send.set_defaults(run=_send)

    service = command(
        "service",
        "run a service of the bus (timeline, alerts, web)",
        "Run a service until SIGTERM. Its logs are JSON lines on stderr; when it cannot "
        "start it says why in one of them and exits 1.",
    )
    services = service.add_subparsers(dest="service", required=True, metavar="SERVICE")
    timeline = services.add_parser(
        "timeline",
        help="fold clinical.events and clinical.alerts into the timeline store "
        "(settings: HL7BUS_TIMELINE_*)",
        description="Keep each patient's timeline, identity and current state in the timeline "
        "store, as a Kafka consumer group whose offsets are stored with the state.",
        formatter_class=_Help,
    )
    timeline.add_argument(
        "--store",
        help="sqlite:///PATH or postgresql://…[?schema=NAME] "
        "(default: HL7BUS_TIMELINE_STORE, else sqlite:///~/.hl7bus/timeline.db)",
    )
    timeline.add_argument(
        "--rebuild",
        action="store_true",
        help="first replay the topics from the beginning into a fresh store while the old "
        "one keeps serving, then put it in the old one's place and go on",
    )
    timeline.add_argument(
        "--metrics-port",
        type=int,
        help="port of /metrics and /healthz; 0 turns them off "
        "(default: HL7BUS_TIMELINE_METRICS_PORT, else 9466)",
    )
    timeline.set_defaults(run=_service, json_logs=True)
    alerts = services.add_parser(
        "alerts",
        help="raise clinical alerts from clinical.events by the rules (settings: HL7BUS_ALERTS_*)",
        description="Evaluate the alert rules over each patient's events and write the alerts "
        "to clinical.alerts exactly once: alerts, rule state and offsets in one Kafka "
        "transaction.",
        formatter_class=_Help,
    )
    alerts.add_argument(
        "--rules",
        help="the rule file (TOML); a file with an error is refused with its line "
        "(default: HL7BUS_ALERTS_RULES, else the rules that ship with hl7bus)",
    )
    alerts.add_argument(
        "--metrics-port",
        type=int,
        help="port of /metrics and /healthz; 0 turns them off "
        "(default: HL7BUS_ALERTS_METRICS_PORT, else 9467)",
    )
    alerts.set_defaults(run=_service, json_logs=True)
    web = services.add_parser(
        "web",
        help="the HTTP front door: the API over the timeline store (settings: HL7BUS_WEB_*)",
        description="Serve the HTTP API (/api/v1, /docs, /healthz, /metrics) over the "
        "timeline store; every request but /healthz needs a bearer token "
        "(`hl7bus token create`), and every read of patient data goes to audit.access.",
        formatter_class=_Help,
    )
    web.add_argument(
        "--host", help="address to listen on (default: HL7BUS_WEB_HOST, else 127.0.0.1)"
    )
    web.add_argument("--port", type=int, help="port (default: HL7BUS_WEB_PORT, else 8400)")
    web.add_argument(
        "--store",
        help="the timeline store's URL, sqlite:///PATH or postgresql://… "
        "(default: HL7BUS_WEB_STORE, else sqlite:///~/.hl7bus/timeline.db)",
    )
    web.set_defaults(run=_service, json_logs=True)

    _add_operator_commands(command)

    token = command("token", "make bearer tokens for the web API")
    token_actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_actions.add_parser(
        "create",
        help="print a signed token, alone on stdout",
        description="Print a token signed with HL7BUS_WEB_TOKEN_SECRET (else the local "
        "stack's secret, made by `hl7bus dev up`), alone on stdout.",
        formatter_class=_Help,
    )
    create.add_argument(
        "--role",
        required=True,
        choices=("clinician", "operator", "service", "admin"),
        help="clinician (patient data), operator (topics, lag, dead letters), "
        "service (the read API, for programs), admin (everything)",
    )
    create.add_argument("--name", required=True, help="who it is for, as the audit shows it")
    create.add_argument("--expires", default="8h", help="how long it holds: 90s, 30m, 8h, 7d")
    token.set_defaults(run=_token)
    return parser


def _add_operator_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The operators' verbs: every one reads the bus (HL7BUS_KAFKA_*, HL7BUS_REGISTRY_*) and
    has ``--json``."""

    def verb(parser: argparse.ArgumentParser, name: str, json_help: str = "one JSON document"):
        parser.add_argument("--json", action="store_true", help=f"print {json_help}")
        parser.set_defaults(run=_operators, verb=name)
        return parser

    time_help = "ISO 8601 with its offset (2026-11-28T10:00+01:00) or a time ago (30m, 6h, 2d)"
    tail = verb(
        command(
            "tail",
            "show a topic's records, decoded through the schema registry",
            "Show a topic's records (clinical.events, hl7.raw, hl7.dlq, clinical.alerts, "
            "audit.access, or any topic), decoded through the schema registry, in the order "
            "the bus received them; with --follow, then each new one until Ctrl-C.",
        ),
        "tail",
        "one JSON object a line",
    )
    tail.add_argument(
        "topic", metavar="TOPIC", help="a bus topic by its name (the prefix is added)"
    )
    tail.add_argument(
        "--from",
        dest="start",
        metavar="WHERE",
        help="beginning, end, an offset (in each partition) or a time: "
        + time_help
        + " (default: beginning, or end with --follow)",
    )
    tail.add_argument("--follow", "-f", action="store_true", help="go on as records arrive")
    tail.add_argument(
        "--patient",
        metavar="KEY",
        help="only the records of this patient key (default: every patient)",
    )
    tail.add_argument(
        "--type",
        metavar="T",
        help="only this event type, message type (ADT^A01) or alert rule (default: every type)",
    )
    tail.add_argument(
        "--limit", type=int, metavar="N", help="stop after N records (default: no limit)"
    )

    topics = verb(
        command(
            "topics",
            "list the bus's topics: partitions, records, retention, schema, compatibility",
        ),
        "topics",
    )
    topics.add_argument(
        "topics", nargs="*", metavar="TOPIC", help="only these (default: the bus's topics)"
    )
    lag = verb(command("lag", "show consumer groups' lag per partition"), "lag")
    lag.add_argument("groups", nargs="*", metavar="GROUP", help="only these (default: every group)")

    find = verb(
        command(
            "find",
            "find every raw message, event, dead letter and alert of a patient or a message",
            "Find every raw message, event, dead letter and alert of a patient key "
            "(AUTHORITY|ID) or a message control id, reading the topics whole.",
        ),
        "find",
    )
    find.add_argument(
        "query",
        metavar="KEY-OR-CONTROL-ID",
        help="a patient key (AUTHORITY|ID) or a message control id (MSH-10)",
    )
    verb(
        command(
            "status",
            "show every part's health, address and version; exit 3 when one is not up",
        ),
        "status",
    )

    dlq = command("dlq", "list, show and replay dead letters (hl7.dlq)")
    dlq_actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return dlq_actions.add_parser(
            name, help=help, description=help[:1].upper() + help[1:] + ".", formatter_class=_Help
        )

    listing = verb(action("list", "list the dead letters, oldest first, each once"), "list")
    listing.add_argument(
        "--since", metavar="T", help="only those since T: " + time_help + " (default: all)"
    )
    listing.add_argument(
        "--code",
        metavar="C",
        help="only this error: message too large, MESSAGE_TOO_LARGE, or its HL7 condition 104 "
        "(default: every error)",
    )
    listing.add_argument(
        "--sender",
        metavar="S",
        help="only this sending application or facility (default: every sender)",
    )
    listing.add_argument("--limit", type=int, metavar="N", help="only the newest N (default: all)")
    show = verb(action("show", "show one dead letter: its raw message, error and where"), "show")
    show.add_argument("id", metavar="ID", help="its id, or PARTITION:OFFSET")
    replay_dlq = verb(
        action(
            "replay",
            "replay dead letters through the current mapping and profiles; exit 2 when some "
            "failed again",
        ),
        "replay-dlq",
    )
    replay_dlq.add_argument("ids", nargs="*", metavar="ID", help="the dead letters to replay")
    replay_dlq.add_argument(
        "--code", metavar="C", help="those of this error (default: every error)"
    )
    replay_dlq.add_argument(
        "--since", metavar="T", help="those since T: " + time_help + " (default: all)"
    )
    replay_dlq.add_argument(
        "--max", type=int, metavar="N", help="at most N, oldest first (default: all)"
    )
    replay_dlq.add_argument(
        "--dry-run", action="store_true", help="translate them and say what would be written"
    )
    raw = verb(
        command(
            "replay",
            "re-run hl7.raw through the current mapping into clinical.events, same event ids",
            "Re-run the raw messages received since --since (until --until) through the "
            "current mapping and profiles into clinical.events, with the event ids the "
            "connector gave them, at most --rate messages a second.",
        ),
        "replay",
    )
    raw.add_argument(
        "--since", metavar="T", help="where to start (required; no default): " + time_help
    )
    raw.add_argument("--until", metavar="T", help="where to stop (default: the end)")
    raw.add_argument("--max", type=int, metavar="N", help="at most N messages (default: all)")
    raw.add_argument(
        "--rate", type=float, default=500.0, help="messages a second at most (0: no limit)"
    )
    for parser in (replay_dlq, raw):
        parser.add_argument(
            "--profile",
            type=Path,
            action="append",
            default=[],
            help="the connector's sender profile file or folder, repeatable "
            "(default: HL7BUS_MLLP_PROFILES, else the default profile)",
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    json_logs = getattr(args, "json_logs", False)
    if json_logs:  # its stderr is JSON log lines from the start
        from hl7bus import logs

        logs.setup()
    try:
        return run(args)
    except Hl7BusError as exc:
        _report(str(exc), json_logs)
        return USAGE_ERROR if isinstance(exc, InvalidSetting | UsageError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`hl7bus ... | head`): nothing to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _report(sentence: str, json_logs: bool) -> None:
    if json_logs:
        logging.getLogger("hl7bus").error(sentence)
    else:
        print(f"hl7bus: {sentence}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
