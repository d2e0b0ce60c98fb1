"""The ``hl7bus`` command: one entry point, one sub-command per job.

Settings are read here, once, and passed down; every expected failure is an
:class:`~hl7bus.errors.Hl7BusError` and ends in one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hl7bus.errors import Hl7BusError

Command = Callable[[argparse.Namespace], int]


def _dev(args: argparse.Namespace) -> int:
    from hl7bus.devstack.stack import LocalStack
    from hl7bus.settings import DevStackSettings

    settings = DevStackSettings()
    stack = LocalStack(settings)
    if args.action == "up":
        from hl7bus.kafka.setup import prepare_bus
        from hl7bus.settings import KafkaSettings, RegistrySettings

        was_running = stack.status().running
        status = stack.up()
        if was_running:
            return 0
        print("Topics and schemas:")
        prepare_bus(
            KafkaSettings(bootstrap_servers=status.bootstrap_servers),
            RegistrySettings(url=status.registry_url),
            partitions=settings.partitions,
        )
    elif args.action == "down":
        stack.down()
    else:
        status = stack.status()
        print(status.describe())
        return 0 if status.running else 3
    return 0


def _setup(args: argparse.Namespace) -> int:
    import time

    from hl7bus.kafka.setup import prepare_bus
    from hl7bus.settings import KafkaSettings, RegistrySettings

    kafka, registry = KafkaSettings(), RegistrySettings()
    deadline = time.monotonic() + args.wait
    while True:
        try:
            prepare_bus(kafka, registry, partitions=args.partitions)
            return 0
        except Exception as exc:
            if time.monotonic() > deadline:
                raise Hl7BusError(
                    f"could not prepare the bus at {kafka.bootstrap_servers} and {registry.url} "
                    f"within {args.wait:.0f} s ({exc})"
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hl7bus",
        description="HL7 v2 feeds in, typed Avro clinical events on Kafka out.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser(
        "dev", help="run a local Kafka and schema registry on loopback (no Docker needed)"
    )
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.set_defaults(run=_dev)

    setup = sub.add_parser(
        "setup", help="create the bus's topics and register its schemas on a running cluster"
    )
    setup.add_argument("--partitions", type=int, default=3)
    setup.add_argument(
        "--wait", type=float, default=120.0, help="seconds to keep trying while the cluster starts"
    )
    setup.set_defaults(run=_setup)

    translate = sub.add_parser(
        "translate",
        help="translate HL7 v2 files (single, batch or MLLP-framed) into JSON events",
        description="Print one JSON event per line on stdout; one JSON error per rejected "
        "message on stderr. Exit 0 when all translated, 2 when some were rejected.",
    )
    translate.add_argument("files", nargs="+", metavar="FILE", help="a file, or - for stdin")
    translate.add_argument(
        "--profile",
        type=Path,
        action="append",
        default=[],
        help="a sender profile file or a folder of them (repeatable)",
    )
    translate.add_argument(
        "--strict",
        action="store_true",
        help="also check each message against its version of the standard "
        "(message structure, lengths, tables; slow) and reject what breaks it",
    )
    translate.set_defaults(run=_translate)

    demo = sub.add_parser("demo", help="play the sample feed into MLLP and show what landed")
    demo.add_argument("--host", help="the MLLP connector's host (default: the dev stack's)")
    demo.add_argument("--port", type=int, help="its port (default: HL7BUS_DEV_MLLP_PORT, 2575)")
    demo.set_defaults(run=_demo)

    connector = sub.add_parser("connector", help="run an inbound connector (mllp, files)")
    kinds = connector.add_subparsers(dest="kind", required=True, metavar="KIND")
    mllp = kinds.add_parser("mllp", help="listen for HL7 v2 over MLLP (settings: HL7BUS_MLLP_*)")
    mllp.add_argument("--host")
    mllp.add_argument("--port", type=int)
    mllp.add_argument("--name", help="connector name, in records and metrics (default mllp)")
    mllp.add_argument("--metrics-port", type=int, help="0 turns the HTTP endpoint off")
    mllp.add_argument(
        "--profile",
        type=Path,
        action="append",
        default=[],
        help="a sender profile file or folder (repeatable)",
    )
    mllp.set_defaults(run=_connector)
    files = kinds.add_parser("files", help="pick up HL7 v2 files from a folder")
    files.add_argument("directory", type=Path)
    files.add_argument("--name")
    files.add_argument("--profile", type=Path, action="append", default=[])
    files.add_argument("--metrics-port", type=int, help="0 turns the HTTP endpoint off")
    files.set_defaults(run=_connector)

    send = sub.add_parser(
        "send",
        help="send HL7 v2 files to an MLLP listener, one message at a time, and count the ACKs",
        description="Split the files into messages (single, batch or MLLP-framed), send each "
        "over one MLLP connection after the previous one's ACK, and report the ACK codes. "
        "Exit 0 when all were AA/CA, 2 when some were not, 1 when the connection failed.",
    )
    send.add_argument("files", nargs="+", type=Path, metavar="FILE")
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, default=2575)
    send.add_argument("--tls", action="store_true", help="connect with TLS")
    send.add_argument("--ca", type=Path, help="CA file to verify the listener with (implies --tls)")
    send.add_argument("--cert", type=Path, help="client certificate, for mutual TLS")
    send.add_argument("--key", type=Path, help="the client certificate's private key")
    send.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the connection and for each ACK",
    )
    send.set_defaults(run=_send)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except Hl7BusError as exc:
        print(f"hl7bus: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
