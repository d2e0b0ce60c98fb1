"""Sender profiles: one declarative TOML file per sending application/facility.

A profile says how to read one vendor's feed: its timezone, which PID-3
identifier is the patient key, its default character set, where its Z-segment
data goes, how its local codes map to standard ones, and the ACK codes it needs
where hl7bus's ACK policy does not suit its interface engine.  Senders without a
profile get the default profile.  A bad profile file is refused at start, with
its line and the reason.

Example (``profiles/genhosp-lab.toml``)::

    name = "genhosp-lab"
    timezone = "Europe/Paris"
    default_charset = "cp1252"

    [match]
    sending_application = "LAB"
    sending_facility = "GENHOSP"

    [patient_key]
    authority = "GENHOSP"
    type = "MR"

    [z_segments]
    "ZPI.3" = "preferred_language"

    [codes.observation]
    "GLU" = { code = "2345-7", system = "LN", display = "Glucose [Mass/volume] in Serum or Plasma" }

    [ack]
    store_failed = "AE"
"""

from __future__ import annotations

import codecs
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hl7bus.errors import ConfigError

_Z_FIELD = re.compile(r"^Z[A-Z0-9]{2}\.\d+(\.\d+)?$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SenderMatch(_Frozen):
    sending_application: str | None = None
    sending_facility: str | None = None


class PatientKeyRule(_Frozen):
    """Which PID-3 repetition is the patient key: by assigning authority and/or type."""

    authority: str | None = None
    type: str | None = None


class StandardCode(_Frozen):
    code: str
    system: str = "LN"
    display: str | None = None


AckOverride = Literal["AE", "AR"]


class AckCodes(_Frozen):
    """MSA-1 this sender needs for an outcome instead of hl7bus's ACK policy (README,
    "ACK policy"): AE or AR, which is CE or CR in enhanced mode.  ERR-3 and ERR-4 stay as
    the policy has them, so the ERR segment still tells resendable from final."""

    store_failed: AckOverride | None = None
    unsupported_version: AckOverride | None = None
    unsupported_processing_id: AckOverride | None = None
    unreadable_header: AckOverride | None = None
    content_error: AckOverride | None = None
    too_large: AckOverride | None = None
    internal_error: AckOverride | None = None

    def overrides(self) -> dict[str, str]:
        """Outcome -> code, for the outcomes this profile sets."""
        return {name: code for name, code in self.model_dump().items() if code is not None}


class SenderProfile(_Frozen):
    name: str = "default"
    timezone: str = "UTC"
    default_charset: str | None = None
    match: SenderMatch = SenderMatch()
    patient_key: PatientKeyRule = PatientKeyRule()
    z_segments: dict[str, str] = Field(default_factory=dict)
    codes: dict[str, dict[str, StandardCode]] = Field(default_factory=dict)
    ack: AckCodes = AckCodes()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name like Europe/Paris)"
            ) from None
        return value

    @field_validator("default_charset")
    @classmethod
    def _known_charset(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown character set {value!r}") from None
        return value

    @field_validator("z_segments")
    @classmethod
    def _z_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _Z_FIELD.match(key):
                raise ValueError(f"{key!r} is not a Z-segment field like ZPI.3 or ZPI.3.1")
        return value

    def standard_code(self, kind: str, local: str | None) -> StandardCode | None:
        if local is None:
            return None
        return self.codes.get(kind, {}).get(local)


DEFAULT_PROFILE = SenderProfile()


@dataclass(frozen=True)
class ProfileSet:
    """All loaded profiles; picks the most specific one for a sender."""

    profiles: tuple[SenderProfile, ...] = ()
    default: SenderProfile = DEFAULT_PROFILE

    def for_sender(self, application: str, facility: str) -> SenderProfile:
        best: tuple[int, SenderProfile] | None = None
        for profile in self.profiles:
            m = profile.match
            if m.sending_application not in (None, application):
                continue
            if m.sending_facility not in (None, facility):
                continue
            score = 2 * (m.sending_facility is not None) + (m.sending_application is not None)
            if score and (best is None or score > best[0]):
                best = (score, profile)
        return best[1] if best else self.default


def load_profile(path: Path) -> SenderProfile:
    """One profile file, or :class:`ConfigError` naming the file, the line and the reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read sender profile ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    data.setdefault("name", path.stem)
    try:
        return SenderProfile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = [str(part) for part in error["loc"]]
        line = _line_of(text, where)
        reason = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}:{line}: {'.'.join(where) or 'profile'}: {reason}") from None


def load_profiles(paths: Iterable[Path]) -> ProfileSet:
    """Profiles from files and folders (every ``*.toml`` in a folder); ``default.toml``
    becomes the default profile."""
    profiles: list[SenderProfile] = []
    default = DEFAULT_PROFILE
    for path in paths:
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        for file in files:
            profile = load_profile(file)
            if profile.name == "default":
                default = profile
            else:
                profiles.append(profile)
    return ProfileSet(tuple(profiles), default)


def _line_of(text: str, where: list[str]) -> int:
    """The line of the innermost key of ``where`` that appears in the text (1 when none)."""
    lines = text.splitlines()
    for key in reversed(where):
        pattern = re.compile(rf'^\s*(\[.*\b{re.escape(key)}\b.*\]|"?{re.escape(key)}"?\s*=)')
        for number, line in enumerate(lines, start=1):
            if pattern.search(line):
                return number
    return 1
