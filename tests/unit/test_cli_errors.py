"""What a user sees when something is wrong, running the real ``hl7bus`` command with no
broker: one sentence that names the problem (the variable, the URL, the file) and the fix,
a non-zero exit, and never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest

from hl7bus.cli import build_parser

HL7BUS = Path(sys.executable).parent / "hl7bus"
REPO = Path(__file__).resolve().parents[2]


def hl7bus(
    *args: str, env: dict[str, str] | None = None, stdin: bytes = b"", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HL7BUS_")}
    done = subprocess.run(
        [str(HL7BUS), *args],
        env={**clean, "HL7BUS_CORPUS": os.environ.get("HL7BUS_CORPUS", ""), **(env or {})},
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    """The one line the command wrote on stderr: plain, or the ``msg`` of a JSON log line."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    line = lines[0]
    if line.startswith("{"):
        entry = json.loads(line)
        assert entry["level"] == "error", entry
        return entry["msg"]
    assert line.startswith("hl7bus: "), line
    return line


# -- bad settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "variable", "value", "example"),
    [
        (["connector", "mllp"], "HL7BUS_MLLP_PORT", "abc", "HL7BUS_MLLP_PORT=2575"),
        (["connector", "mllp"], "HL7BUS_MLLP_PORT", "70000", "HL7BUS_MLLP_PORT=2575"),
        (["connector", "mllp"], "HL7BUS_MLLP_WORKERS", "0", "HL7BUS_MLLP_WORKERS=1"),
        (["connector", "mllp"], "HL7BUS_MLLP_PROFILES", "profiles/", "HL7BUS_MLLP_PROFILES='["),
        (["connector", "mllp"], "HL7BUS_KAFKA_MAX_RECORD_BYTES", "16M", "=16777216"),
        (["connector", "files", "."], "HL7BUS_FILES_SETTLE_S", "soon", "HL7BUS_FILES_SETTLE_S=2"),
        (["setup"], "HL7BUS_REGISTRY_TIMEOUT_S", "-1", "HL7BUS_REGISTRY_TIMEOUT_S=10"),
        (["setup"], "HL7BUS_REGISTRY_URL", "127.0.0.1:8081", "HL7BUS_REGISTRY_URL=http://"),
        (["dev", "status"], "HL7BUS_DEV_KAFKA_PORT", "kafka", "HL7BUS_DEV_KAFKA_PORT=9092"),
        (["demo"], "HL7BUS_DEV_MLLP_PORT", "x", "HL7BUS_DEV_MLLP_PORT=2575"),
    ],
)
def test_a_bad_setting_is_one_sentence_naming_the_variable_and_a_right_value(
    command: list[str], variable: str, value: str, example: str
) -> None:
    done = hl7bus(*command, env={variable: value})
    assert done.returncode == 2
    sentence = one_sentence(done)
    assert variable in sentence and example in sentence, sentence
    assert "listening" not in done.stderr


def test_every_setting_of_every_settings_class_is_named_when_it_is_bad() -> None:
    """Each typed HL7BUS_* variable, given a value of the wrong kind, is refused with its
    name and an example of a right value."""
    from pydantic import BaseModel

    from hl7bus import settings as module
    from hl7bus.settings import InvalidSetting

    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, BaseModel) and c.__module__ == module.__name__
    ]
    assert len(classes) >= 5
    checked = 0
    for cls in classes:
        prefix = cls.model_config["env_prefix"]
        for name, info in cls.model_fields.items():
            kind = repr(info.annotation)
            wrong = next(
                (
                    bad
                    for word, bad in (("list", "["), ("int", "1.5x"), ("float", "x1"))
                    if word in kind
                ),
                None,
            )
            if wrong is None:  # any text is a valid str or path
                continue
            variable = f"{prefix}{name}".upper()
            required = (
                {"directory": "."}
                if name != "directory" and "directory" in cls.model_fields
                else {}
            )
            old = os.environ.get(variable)
            os.environ[variable] = wrong
            try:
                with pytest.raises(InvalidSetting) as caught:
                    cls(**required)
            finally:
                if old is None:
                    del os.environ[variable]
                else:
                    os.environ[variable] = old
            sentence = str(caught.value)
            assert variable in sentence and f"{variable}=" in sentence, sentence
            assert "\n" not in sentence and "pydantic" not in sentence, sentence
            checked += 1
    assert checked >= 30


def test_a_secret_is_never_repeated_in_the_sentence() -> None:
    from hl7bus.settings import InvalidSetting, RegistrySettings

    with pytest.raises(InvalidSetting) as caught:
        RegistrySettings(basic_auth=["user:hunter2"])  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value) and "HL7BUS_REGISTRY_BASIC_AUTH" in str(caught.value)


# -- the schema registry -----------------------------------------------------------------------


class _NotARegistry(BaseHTTPRequestHandler):
    status = 404
    body = b"<html><body><h1>Resource not found</h1></body></html>"

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


class _WelcomePage(_NotARegistry):
    status = 200
    body = b"<html><body>Welcome</body></html>"


@pytest.fixture(params=[_NotARegistry, _WelcomePage], ids=["404", "200-html"])
def http_not_a_registry(request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/apis/ccompat/v7"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def _connector(kind: str, tmp_path: Path) -> list[str]:
    return (
        ["connector", "mllp", "--port", "0", "--metrics-port", "0"]
        if kind == "mllp"
        else [
            "connector",
            "files",
            str(tmp_path),
            "--metrics-port",
            "0",
        ]
    )


@pytest.mark.parametrize("kind", ["mllp", "files"])
def test_an_unreachable_registry_is_one_sentence(kind: str, tmp_path: Path) -> None:
    url = "http://127.0.0.1:1/apis/ccompat/v7"
    done = hl7bus(*_connector(kind, tmp_path), env={"HL7BUS_REGISTRY_URL": url})
    assert done.returncode == 1
    sentence = one_sentence(done)
    assert url in sentence and "HL7BUS_REGISTRY_URL" in sentence, sentence


@pytest.mark.parametrize("kind", ["mllp", "files"])
def test_an_http_server_that_is_not_a_registry_is_one_sentence(
    kind: str, tmp_path: Path, http_not_a_registry: str
) -> None:
    done = hl7bus(*_connector(kind, tmp_path), env={"HL7BUS_REGISTRY_URL": http_not_a_registry})
    assert done.returncode == 1
    sentence = one_sentence(done)
    assert http_not_a_registry in sentence and "not a schema registry" in sentence, sentence


def test_a_registry_that_never_answers_is_one_sentence(silent_port: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{silent_port}/apis/ccompat/v7"
    done = hl7bus(
        *_connector("mllp", tmp_path),
        env={"HL7BUS_REGISTRY_URL": url, "HL7BUS_REGISTRY_TIMEOUT_S": "0.5"},
    )
    assert done.returncode == 1
    sentence = one_sentence(done)
    assert url in sentence and "did not answer" in sentence, sentence


# -- version and help --------------------------------------------------------------------------


def test_version_comes_from_the_package() -> None:
    done = hl7bus("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"hl7bus {version('hl7bus')}"


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_of_every_command_says_what_it_does_and_its_default() -> None:
    parsers = dict(_parsers(build_parser()))
    assert {("dev", "up"), ("dev", "down"), ("dev", "status")} <= set(parsers)
    for path, parser in parsers.items():
        command = " ".join(("hl7bus", *path))
        assert parser.description, f"{command} has no description"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"{command} {action.dest}: no help"
            shown = parser._get_formatter()._format_action(action)
            if (
                action.option_strings
                and not action.required
                and not isinstance(action, argparse._StoreTrueAction | argparse._VersionAction)
            ):
                assert "default" in shown, f"{command}: no default in {shown!r}"
            assert "None" not in shown, f"{command}: {shown!r}"


def test_the_defaults_shown_for_connector_options_are_the_settings_defaults() -> None:
    from hl7bus.settings import FileSettings, MllpSettings

    parsers = dict(_parsers(build_parser()))
    for kind, settings, fields in (
        ("mllp", MllpSettings, ("host", "port", "name", "metrics_port")),
        ("files", FileSettings, ("name",)),
    ):
        text = " ".join(parsers[("connector", kind)].format_help().split())
        for field in fields:
            variable = f"HL7BUS_{kind.upper()}_{field.upper()}"
            assert f"{variable}, else {settings.model_fields[field].default})" in text, field


def test_dev_help_lists_up_down_and_status() -> None:
    done = hl7bus("dev", "--help")
    assert done.returncode == 0
    for action in ("up", "down", "status"):
        assert any(line.split()[:1] == [action] for line in done.stdout.splitlines()), done.stdout
    assert hl7bus("dev", "up", "--help").returncode == 0


# -- translate ---------------------------------------------------------------------------------


def _translate_errors(done: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in done.stderr.splitlines() if line.strip()]


def test_empty_stdin_is_reported_like_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.hl7"
    empty.write_bytes(b"")
    from_file = hl7bus("translate", str(empty))
    from_stdin = hl7bus("translate", "-", stdin=b"")
    assert from_file.returncode == from_stdin.returncode == 2
    (file_error,) = _translate_errors(from_file)
    (stdin_error,) = _translate_errors(from_stdin)
    assert stdin_error["file"] == "-"
    assert stdin_error["code"] == file_error["code"] == "not an HL7 message"
    assert "standard input" in stdin_error["message"].lower()


def test_a_file_that_is_not_hl7_at_all_gives_one_error(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(2 * 1024 * 1024)
    path = tmp_path / "random.bin"
    path.write_bytes(noise)
    done = hl7bus("translate", str(path))
    assert done.returncode == 2
    (error,) = _translate_errors(done)
    assert error["code"] == "not an HL7 message" and error["file"] == str(path)
    assert done.stdout == ""
