"""``hl7bus send``: an MLLP client for trying a connector with real files.

Splits the files into messages (single, batch, headerless or MLLP-framed), sends them
one by one over one connection (TLS and client certificates when asked), waits for each
ACK, and reports the ACK codes it got, with the control ids of every answer other than
AA/CA.  Exit status: 0 when all were accepted, 2 when some were not, 1 when the
connection failed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from hl7bus.errors import Hl7BusError
from hl7bus.hl7 import split_messages, unescape
from hl7bus.hl7.encoding import read_encoding
from hl7bus.hl7.header import read_header
from hl7bus.mllp.client import MllpClient

ACCEPTED = frozenset({"AA", "CA"})
NO_ACK = "??"  # an answer without a readable MSA-1


# -- the pure part: reading ACKs, tallying, the report --------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    control_id: str  # of the message sent
    code: str  # MSA-1 of its ACK
    text: str = ""  # MSA-3, or the ERR segment's error text


def read_ack(ack: bytes) -> tuple[str, str]:
    """MSA-1 (the acknowledgement code) and the error text of an ACK; ``??`` when unreadable."""
    header = read_header(ack)
    separator = header.field_separator
    lines = ack.decode("utf-8", errors="replace").replace("\n", "\r").split("\r")

    def segment(name: str) -> list[str]:
        return next(
            (line.split(separator) for line in lines if line.startswith(name + separator)), []
        )

    msa, err = segment("MSA"), segment("ERR")
    if len(msa) < 2 or not msa[1].strip():
        return NO_ACK, ""
    why = msa[3] if len(msa) > 3 else ""
    if not why and len(err) > 8:
        why = err[8]
    try:
        encoding = read_encoding(separator, header.encoding_characters)
        why = unescape(why, encoding)
    except Exception:  # the text is only shown: then shown as sent
        pass
    return msa[1].strip().upper(), why.strip()


@dataclass
class Tally:
    """The answers so far, and what they add up to."""

    answers: list[Answer] = field(default_factory=list)

    def add(self, answer: Answer) -> None:
        self.answers.append(answer)

    @property
    def counts(self) -> Counter[str]:
        return Counter(a.code for a in self.answers)

    def counts_text(self) -> str:
        order = sorted(
            self.counts.items(), key=lambda item: (item[0] not in ACCEPTED, -item[1], item[0])
        )
        return ", ".join(f"{code} {n}" for code, n in order)

    @property
    def not_accepted(self) -> list[Answer]:
        return [a for a in self.answers if a.code not in ACCEPTED]

    def exit_code(self) -> int:
        return 2 if self.not_accepted else 0

    def report(self, total: int | None = None) -> list[str]:
        """``sent 120 messages: AA 117, AR 2, AE 1`` and one line per answer not accepted."""
        sent = len(self.answers)
        head = f"sent {sent} message{'s' if sent != 1 else ''}"
        if total is not None and total != sent:
            head += f" of {total}"
        lines = [f"{head}: {self.counts_text()}" if sent else head]
        for answer in self.not_accepted:
            line = f"  {answer.code} {answer.control_id or '(no control id)'}"
            lines.append(f"{line}: {answer.text}" if answer.text else line)
        return lines


def progress_bar(done: int, total: int, counts: str, width: int = 30) -> str:
    filled = width * done // total if total else width
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {counts}\x1b[K"


# -- the I/O part ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    timeout_s: float = 30.0
    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def tls_context(target: Target) -> ssl.SSLContext | None:
    if not target.tls:
        return None
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(target.ca) if target.ca else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if target.cert is not None:
        context.load_cert_chain(target.cert, target.key)
    return context


def load_messages(files: Sequence[Path]) -> list[bytes]:
    messages: list[bytes] = []
    for path in files:
        try:
            messages.extend(split_messages(path.read_bytes()))
        except OSError as exc:
            raise Hl7BusError(f"cannot read {path}: {exc.strerror or exc}") from None
    return messages


async def send(
    messages: Sequence[bytes],
    target: Target,
    tally: Tally,
    on_answer: Callable[[], None] = lambda: None,
) -> None:
    """Send every message, each after the previous one's ACK, adding the answers to
    ``tally``; raise :class:`Hl7BusError` when the connection fails."""
    for path in (target.ca, target.cert, target.key):
        if path is not None and not path.is_file():
            raise Hl7BusError(f"cannot read {path}")
    try:
        context = tls_context(target)
    except (OSError, ValueError) as exc:
        raise Hl7BusError(f"cannot load the TLS files ({_reason(exc)})") from None
    try:
        client = await MllpClient.connect(
            target.host, target.port, tls=context, timeout_s=target.timeout_s
        )
    except TimeoutError:
        raise Hl7BusError(
            f"could not connect to {target.address} within {target.timeout_s:g} s"
        ) from None
    except ssl.SSLError as exc:
        raise Hl7BusError(
            f"the TLS handshake with {target.address} failed ({_reason(exc)})"
        ) from None
    except OSError as exc:
        raise Hl7BusError(f"could not connect to {target.address} ({_reason(exc)})") from None
    try:
        for message in messages:
            control_id = read_header(message).control_id
            try:
                ack = await client.send(message)
            except TimeoutError:
                raise Hl7BusError(
                    f"no ACK from {target.address} within {target.timeout_s:g} s for message "
                    f"{control_id or len(tally.answers) + 1} ({len(tally.answers)} of "
                    f"{len(messages)} answered)"
                ) from None
            except (OSError, EOFError) as exc:
                hint = ""
                if context is not None and target.cert is None and not tally.answers:
                    hint = "; the listener may require a client certificate (--cert, --key)"
                raise Hl7BusError(
                    f"the connection to {target.address} failed after {len(tally.answers)} of "
                    f"{len(messages)} messages ({_reason(exc)}{hint})"
                ) from None
            code, text = read_ack(ack)
            tally.add(Answer(control_id, code, text))
            on_answer()
    finally:
        await client.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def run(files: Sequence[Path], target: Target, out: TextIO, err: TextIO) -> int:
    """The ``send`` command: returns the exit status; connection failures raise."""
    messages = load_messages(files)
    show = err.isatty()
    tally = Tally()
    last_drawn = 0.0

    def draw() -> None:
        nonlocal last_drawn
        now = time.monotonic()
        if show and (now - last_drawn > 0.1 or len(tally.answers) == len(messages)):
            err.write(progress_bar(len(tally.answers), len(messages), tally.counts_text()))
            err.flush()
            last_drawn = now

    try:
        asyncio.run(send(messages, target, tally, draw))
    finally:
        _finish(out, err, show, tally, len(messages))
    return tally.exit_code()


def _finish(out: TextIO, err: TextIO, show: bool, tally: Tally, total: int) -> None:
    if show:
        err.write("\n")
        err.flush()
    if tally.answers or total == 0:
        out.write("\n".join(tally.report(total)) + "\n")
        out.flush()
