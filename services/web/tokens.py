"""Bearer tokens of the web front door: signed JSON Web Tokens (HS256, HMAC-SHA256 with
the secret of ``HL7BUS_WEB_TOKEN_SECRET``).

A token says who (``sub``, the name given to ``hl7bus token create --name``), in which
role (``role``), when it was issued (``iat``) and until when it holds (``exp``), and that
hl7bus issued it (``iss``).  No HTTP here: :func:`create` makes a token, :func:`verify`
checks one and returns its :class:`Principal`, or raises :class:`TokenError` with a
sentence that says why (without echoing the token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Final

import jwt
from pydantic import SecretStr

from hl7bus.devstack.secrets import read_token_secret, token_secret_file
from hl7bus.errors import Hl7BusError
from hl7bus.settings import DevStackSettings, WebSettings

ALGORITHM: Final = "HS256"
ISSUER: Final = "hl7bus"
MIN_SECRET_CHARS: Final = 32
CLOCK_SKEW: Final = timedelta(seconds=30)


class Role(str, Enum):
    CLINICIAN = "clinician"  # patient data, alerts
    OPERATOR = "operator"  # topics, lag, dead letters, replay: no patient data
    SERVICE = "service"  # the read API, for programs
    ADMIN = "admin"  # everything


PATIENT_DATA_ROLES: Final = frozenset({Role.CLINICIAN, Role.SERVICE, Role.ADMIN})
"""The roles that may read a patient's data."""

ALERT_CHANGE_ROLES: Final = frozenset({Role.CLINICIAN, Role.ADMIN})
"""The roles that may acknowledge and resolve alerts: people, not programs."""

OPERATIONS_ROLES: Final = frozenset({Role.OPERATOR, Role.ADMIN})
"""The roles that may read the operators' figures (connectors, lag, dead letters)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    name: str
    role: Role
    issued_at: datetime
    expires_at: datetime


class TokenError(Hl7BusError):
    """A token that is missing, malformed, wrongly signed, expired or not hl7bus's."""


def signing_secret(web: WebSettings, dev: DevStackSettings) -> SecretStr:
    """``HL7BUS_WEB_TOKEN_SECRET``, else the local stack's secret (made by ``dev up``)."""
    if web.token_secret is not None:
        return web.token_secret
    found = read_token_secret(dev)
    if found is None:
        raise Hl7BusError(
            "HL7BUS_WEB_TOKEN_SECRET is not set and the local stack has no secret at "
            f"{token_secret_file(dev)}; set it to a random string of at least "
            f"{MIN_SECRET_CHARS} characters, or run `hl7bus dev up`, which makes one"
        )
    return found


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``"8h"``, ``"30m"``, ``"7d"``, ``"90s"`` as a duration; anything else is refused."""
    found = _DURATION.match(text)
    if found is None or int(found.group(1)) == 0:
        raise Hl7BusError(
            f"a token's lifetime is a whole number above 0 with s, m, h or d (it is {text!r}); "
            "for example --expires 8h"
        )
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def create(
    secret: SecretStr,
    *,
    name: str,
    role: Role,
    lifetime: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    """A signed token for ``name`` in ``role``, valid for ``lifetime`` from ``now``."""
    if not name.strip():
        raise Hl7BusError("a token needs a name (who it is for); for example --name dr.nguyen")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "iss": ISSUER,
        "sub": name,
        "role": role.value,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
    }
    return jwt.encode(claims, _key(secret), algorithm=ALGORITHM)


def verify(secret: SecretStr, token: str, *, now: datetime | None = None) -> Principal:
    """The principal of a token signed with ``secret``, issued by hl7bus, not expired at
    ``now`` (30 s of clock skew allowed), with a known role."""
    try:
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # Times are checked below, against ``now``.
            options={
                "require": ["exp", "iat", "sub", "iss"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise TokenError("The token's signature does not match this server's secret.") from None
    except jwt.PyJWTError:
        raise TokenError("The token is not a valid hl7bus token.") from None
    role = claims.get("role")
    if role not in {r.value for r in Role}:
        raise TokenError("The token names no known role.")
    name = claims["sub"]
    if not isinstance(name, str) or not name.strip():
        raise TokenError("The token names nobody.")
    issued, expires = _instant(claims["iat"]), _instant(claims["exp"])
    current = now or datetime.now(UTC)
    if issued > current + CLOCK_SKEW:
        raise TokenError("The token was issued in the future; check the clocks.")
    if expires < current - CLOCK_SKEW:
        raise TokenError("The token has expired; get a new one.")
    return Principal(name=name, role=Role(role), issued_at=issued, expires_at=expires)


def _instant(value: object) -> datetime:
    """A NumericDate claim (seconds since the epoch) as a time."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("The token is not a valid hl7bus token.")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenError("The token is not a valid hl7bus token.") from None


def _key(secret: SecretStr) -> bytes:
    value = secret.get_secret_value()
    if len(value) < MIN_SECRET_CHARS:
        raise Hl7BusError(
            f"the token secret must be at least {MIN_SECRET_CHARS} characters; set "
            "HL7BUS_WEB_TOKEN_SECRET to a random string"
        )
    return value.encode()
