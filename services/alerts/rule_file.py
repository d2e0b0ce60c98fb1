"""Reading the alert rule file: where each TOML key sits (for error messages that name the
line) and the reading of one rule table's options, each problem in one sentence.

The rule file is parsed with :mod:`tomllib`, which gives no line for a value; the lines are
found by :class:`KeyLines`, which walks the text's table headers and ``key =`` lines and
maps each key path (``("rule", 2, "severity")``) to the line that writes it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from hl7bus.errors import ConfigError
from hl7bus.events.alerts import AlertSeverity

Path = tuple[str | int, ...]

_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_SEVERITIES = "INFO, WARNING or CRITICAL"


class RuleFileError(ConfigError):
    """A rule file that cannot be used: the file, the line and the reason in one sentence
    (``rules.toml line 14: rule "news2" has severity "URGENT"; use INFO, WARNING or
    CRITICAL``).  The alerts service refuses to start with it."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        super().__init__(f"{source} line {line}: {reason}" if line else f"{source}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


class Problem(Exception):
    """A mistake at one key path of the rule file; becomes a :class:`RuleFileError`."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _split_keys(dotted: str) -> tuple[str, ...]:
    keys = []
    for part in re.findall(_KEY, dotted):
        if part[:1] == '"':
            part = part[1:-1].encode().decode("unicode_escape")
        elif part[:1] == "'":
            part = part[1:-1]
        keys.append(part)
    return tuple(keys)


class KeyLines:
    """The line of each table header and key of a TOML text, by key path; arrays of tables
    (``[[rule]]``) are numbered from 0, as in the parsed data."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        arrays: dict[Path, int] = {}
        table: Path = ()
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            if quotes % 2:
                in_string = True
            header = _HEADER.match(line)
            if header:
                keys = _split_keys(header.group(2))
                parent = self._resolve(keys[:-1], arrays)
                table = (*parent, keys[-1])
                if header.group(1) == "[[":
                    arrays[table] = arrays.get(table, -1) + 1
                    table = (*table, arrays[table])
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                self._lines.setdefault((*table, *_split_keys(assign.group(1))), number)

    @staticmethod
    def _resolve(keys: Iterable[str], arrays: Mapping[Path, int]) -> Path:
        path: Path = ()
        for key in keys:
            path = (*path, key)
            if path in arrays:
                path = (*path, arrays[path])
        return path

    def line(self, path: Path) -> int:
        """The line of the longest known prefix of ``path`` (1 when none is known)."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return 1


def toml_error_line(message: str, text: str) -> tuple[int, str]:
    """The line and the reason of a :class:`tomllib.TOMLDecodeError` message."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if found:
        reason = message[: found.start()] + f" (column {found.group(2)})"
        return int(found.group(1)), reason[:1].lower() + reason[1:]
    line = max(1, len(text.splitlines()))
    reason = re.sub(r"\s*\(at end of document\)", " at the end of the file", message)
    return line, reason[:1].lower() + reason[1:]


def parse_duration(text: str) -> timedelta | None:
    """``"30m"``, ``"6h"``, ``"1d"``, ``"1h30m"``, ``"45s"``, ``"0m"``; None if not one."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(span: timedelta) -> str:
    """A duration as the rule file writes it: ``6h``, ``1d``, ``1h30m``, ``0m``."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0m"


class Options:
    """The options of one table of the rule file, read one by one; :meth:`finish` refuses
    any key that was not read (an unknown option), naming the known ones."""

    def __init__(self, table: Mapping[str, Any], path: Path, what: str) -> None:
        self.table = table
        self.path = path
        self.what = what  # 'rule "news2"', 'rule "critical-value" limit "2823-3"'
        self._known: list[str] = []

    def _get(self, key: str) -> Any:
        self._known.append(key)
        return self.table.get(key)

    def problem(self, key: str | None, reason: str) -> Problem:
        return Problem(self.path if key is None else (*self.path, key), f"{self.what} {reason}")

    def severity(self, key: str, default: AlertSeverity | None = None) -> AlertSeverity:
        value = self._get(key)
        if value is None:
            if default is None:
                raise self.problem(None, f'has no {key}; add {key} = "WARNING" ({_SEVERITIES})')
            return default
        if not isinstance(value, str) or value not in AlertSeverity.__members__:
            raise self.problem(key, f'has {key} "{value}"; use {_SEVERITIES}')
        return AlertSeverity(value)

    def duration(self, key: str, default: timedelta | None = None, *, zero: bool) -> timedelta:
        value = self._get(key)
        if value is None:
            if default is None:
                raise self.problem(None, f'has no {key}; add {key} = "6h" (a duration)')
            return default
        span = parse_duration(value) if isinstance(value, str) else None
        if span is None or (not zero and not span):
            text = f'"{value}"' if isinstance(value, str) else repr(value)
            least = "" if zero else ", longer than 0"
            raise self.problem(
                key, f"has {key} {text}; write a duration such as 30m, 6h or 1d{least}"
            )
        return span

    def text(self, key: str, default: str | None = None) -> str:
        value = self._get(key)
        if value is None and default is not None:
            return default
        if value is None:
            raise self.problem(None, f'has no {key}; add {key} = "..."')
        if not isinstance(value, str) or not value.strip():
            raise self.problem(key, f"has {key} {value!r}; write it as a text in quotes")
        return value

    def template(self, key: str, fields: Iterable[str], default: str | None = None) -> str:
        """A title template: text with ``{field}`` places, each one of ``fields``."""
        value = self.text(key, default)
        known = tuple(fields)
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise self.problem(key, f"has a {key} that is not a template ({exc})") from None
        for _literal, name, spec, conversion in parts:
            if name is None:
                continue
            if name not in known or spec or conversion:
                places = ", ".join(f"{{{f}}}" for f in known)
                raise self.problem(key, f"{key} uses {{{name}}}; it can use {places}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.problem(key, f"has {key} {value!r}; write true or false")
        return value

    def whole(self, key: str, default: int, *, least: int = 1) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise self.problem(key, f"has {key} {value!r}; write a whole number from {least}")
        return value

    def number(self, key: str) -> float | None:
        value = self._get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise self.problem(key, f"has {key} {value!r}; write a number")
        return float(value)

    def texts(
        self, key: str, default: tuple[str, ...] = (), *, choices: Iterable[str] = ()
    ) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return default
        allowed = tuple(choices)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.problem(key, f'has {key} {value!r}; write a list of texts: ["a", "b"]')
        for item in value:
            if allowed and item not in allowed:
                raise self.problem(key, f'lists "{item}" in {key}; use {", ".join(allowed)}')
        return tuple(value)

    def tables(self, key: str) -> dict[str, Mapping[str, Any]]:
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise self.problem(key, f"has {key} that is not a table of tables")
        return value

    def finish(self) -> None:
        for key in self.table:
            if key not in self._known:
                raise self.problem(
                    key, f'has no option "{key}"; its options are {", ".join(self._known)}'
                )
