"""The local stack's token secret: ``hl7bus dev up`` makes one random secret under
``HL7BUS_DEV_HOME/dev`` (readable by its owner only), so that ``hl7bus token create`` and
``hl7bus service web`` agree on it without ``HL7BUS_WEB_TOKEN_SECRET``."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from hl7bus.settings import DevStackSettings

FILE_NAME = "web-token-secret"


def token_secret_file(settings: DevStackSettings) -> Path:
    return settings.state_dir / FILE_NAME


def ensure_token_secret(settings: DevStackSettings) -> Path:
    """The secret's file, made (mode 0600) when there is none; an existing one is kept, and
    made private again if its mode lets others read it."""
    path = token_secret_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        return path
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48) + "\n")
    return path


def read_token_secret(settings: DevStackSettings) -> SecretStr | None:
    """The local stack's secret, or None when ``dev up`` has not made one."""
    try:
        value = token_secret_file(settings).read_text().strip()
    except FileNotFoundError:
        return None
    return SecretStr(value) if value else None
