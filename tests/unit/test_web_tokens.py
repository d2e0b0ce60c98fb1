"""Bearer tokens of the web front door: signed, with a name, a role, an issue time and an
expiry; anything else — another secret, a changed claim, no signature, an unknown role,
an expired token — is refused with a sentence.  ``hl7bus token create`` prints the token
alone on stdout, and ``dev up``'s secret is private to its owner."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from hl7bus.devstack.secrets import ensure_token_secret, read_token_secret
from hl7bus.errors import Hl7BusError
from hl7bus.services.web import tokens
from hl7bus.services.web.auth import allowed
from hl7bus.services.web.tokens import PATIENT_DATA_ROLES, Role, TokenError
from hl7bus.settings import DevStackSettings, WebSettings

SECRET = SecretStr("s" * 40)
OTHER = SecretStr("o" * 40)
NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_token_carries_name_role_and_times():
    token = tokens.create(
        SECRET, name="dr.nguyen", role=Role.CLINICIAN, lifetime=timedelta(hours=8), now=NOON
    )
    who = tokens.verify(SECRET, token, now=NOON + timedelta(hours=1))
    assert (who.name, who.role) == ("dr.nguyen", Role.CLINICIAN)
    assert who.issued_at == NOON
    assert who.expires_at == NOON + timedelta(hours=8)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "dr.nguyen" and claims["role"] == "clinician"
    assert claims["iss"] == "hl7bus"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_an_expired_token_is_refused():
    token = tokens.create(
        SECRET, name="a", role=Role.SERVICE, lifetime=timedelta(minutes=5), now=NOON
    )
    tokens.verify(SECRET, token, now=NOON + timedelta(minutes=5))
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(SECRET, token, now=NOON + timedelta(minutes=6))


def test_a_token_issued_in_the_future_is_refused():
    token = tokens.create(SECRET, name="a", role=Role.SERVICE, now=NOON + timedelta(hours=1))
    with pytest.raises(TokenError, match="future"):
        tokens.verify(SECRET, token, now=NOON)


def test_a_token_signed_with_another_secret_is_refused():
    token = tokens.create(OTHER, name="a", role=Role.ADMIN, now=NOON)
    with pytest.raises(TokenError, match="signature"):
        tokens.verify(SECRET, token, now=NOON)


def _segment(claims: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def test_a_changed_claim_breaks_the_signature():
    token = tokens.create(SECRET, name="nurse", role=Role.OPERATOR, now=NOON)
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = ".".join((header, _segment({**claims, "role": "admin"}), signature))
    with pytest.raises(TokenError):
        tokens.verify(SECRET, forged, now=NOON)


def test_an_unsigned_token_is_refused():
    claims = {"iss": "hl7bus", "sub": "x", "role": "admin", "iat": 0, "exp": 2**40}
    unsigned = _segment({"alg": "none", "typ": "JWT"}) + "." + _segment(claims) + "."
    with pytest.raises(TokenError):
        tokens.verify(SECRET, unsigned, now=NOON)


@pytest.mark.parametrize(
    "change",
    [
        {"role": "superuser"},
        {"role": None},
        {"iss": "someone-else"},
        {"sub": ""},
        {"exp": "tomorrow"},
        {"iat": 10**20},
    ],
    ids=["unknown-role", "no-role", "issuer", "nobody", "text-expiry", "absurd-issue-time"],
)
def test_a_well_signed_token_with_wrong_claims_is_refused(change):
    claims = {"iss": "hl7bus", "sub": "x", "role": "clinician", "iat": int(NOON.timestamp())}
    claims |= {"exp": int((NOON + timedelta(hours=1)).timestamp())} | change
    token = jwt.encode(claims, SECRET.get_secret_value().encode(), algorithm="HS256")
    with pytest.raises(TokenError):
        tokens.verify(SECRET, token, now=NOON)


@pytest.mark.parametrize("text", ["", "garbage", "not.a.token", "a.b.c"])
def test_garbage_is_refused(text):
    with pytest.raises(TokenError):
        tokens.verify(SECRET, text, now=NOON)


def test_a_short_secret_is_refused():
    with pytest.raises(Hl7BusError, match="32 characters"):
        tokens.create(SecretStr("short"), name="a", role=Role.ADMIN)


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [
        ("8h", timedelta(hours=8)),
        ("30m", timedelta(minutes=30)),
        ("7d", timedelta(days=7)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_lifetimes(text, lifetime):
    assert tokens.parse_duration(text) == lifetime


@pytest.mark.parametrize("text", ["", "8", "0h", "-1h", "8 hours", "1.5h", "h"])
def test_bad_lifetimes_are_refused(text):
    with pytest.raises(Hl7BusError, match="--expires"):
        tokens.parse_duration(text)


def test_patient_data_is_for_clinicians_services_and_admins():
    assert {Role.CLINICIAN, Role.SERVICE, Role.ADMIN} == PATIENT_DATA_ROLES
    assert allowed(Role.CLINICIAN, PATIENT_DATA_ROLES)
    assert allowed(Role.SERVICE, PATIENT_DATA_ROLES)
    assert allowed(Role.ADMIN, PATIENT_DATA_ROLES)
    assert not allowed(Role.OPERATOR, PATIENT_DATA_ROLES)
    assert allowed(Role.ADMIN, frozenset({Role.OPERATOR})), "an admin may do everything"


def test_the_secret_comes_from_settings_else_from_the_dev_stack(tmp_path):
    dev = DevStackSettings(home=tmp_path)
    with pytest.raises(Hl7BusError, match="HL7BUS_WEB_TOKEN_SECRET"):
        tokens.signing_secret(WebSettings(token_secret=None), dev)
    ensure_token_secret(dev)
    assert tokens.signing_secret(WebSettings(token_secret=None), dev) == read_token_secret(dev)
    assert tokens.signing_secret(WebSettings(token_secret=SECRET), dev) == SECRET


def test_dev_up_secret_is_private_and_kept(tmp_path):
    dev = DevStackSettings(home=tmp_path)
    path = ensure_token_secret(dev)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = read_token_secret(dev)
    assert first is not None and len(first.get_secret_value()) >= 32
    path.chmod(0o644)
    assert ensure_token_secret(dev) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "made private again"
    assert read_token_secret(dev) == first, "an existing secret is kept"


def _hl7bus(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_token_create_prints_the_token_alone(tmp_path):
    env = {
        "HL7BUS_WEB_TOKEN_SECRET": SECRET.get_secret_value(),
        "HL7BUS_DEV_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    done = _hl7bus(
        "token", "create", "--role", "clinician", "--name", "dr.nguyen", "--expires", "30m", env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.count("\n") == 1
    who = tokens.verify(SECRET, done.stdout.strip())
    assert (who.name, who.role) == ("dr.nguyen", Role.CLINICIAN)
    assert who.expires_at - who.issued_at == timedelta(minutes=30)


def test_token_create_with_the_dev_stack_secret(tmp_path):
    dev = DevStackSettings(home=tmp_path)
    ensure_token_secret(dev)
    env = {"HL7BUS_DEV_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = _hl7bus("token", "create", "--role", "service", "--name", "etl", env=env)
    assert done.returncode == 0, done.stderr
    secret = read_token_secret(dev)
    assert secret is not None
    who = tokens.verify(secret, done.stdout.strip())
    assert who.expires_at - who.issued_at == timedelta(hours=8), "8 hours unless told"


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (("--role", "root", "--name", "x"), 2, "invalid choice"),
        (("--role", "admin", "--name", "x", "--expires", "forever"), 1, "--expires"),
        (("--role", "admin"), 2, "--name"),
    ],
)
def test_token_create_refuses_bad_options(tmp_path, args, status, words):
    env = {
        "HL7BUS_WEB_TOKEN_SECRET": SECRET.get_secret_value(),
        "HL7BUS_DEV_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    done = _hl7bus("token", "create", *args, env=env)
    assert done.returncode == status
    assert done.stdout == ""
    assert words in done.stderr


def test_token_create_without_any_secret_says_how_to_get_one(tmp_path):
    done = _hl7bus(
        "token",
        "create",
        "--role",
        "admin",
        "--name",
        "x",
        env={"HL7BUS_DEV_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "HL7BUS_WEB_TOKEN_SECRET" in done.stderr and "dev up" in done.stderr
    assert "Traceback" not in done.stderr


def test_dev_up_makes_the_secret_that_token_create_uses(tmp_path):
    """`dev up` makes the secret before anything else (here it then stops: no Java)."""
    env = {
        "HL7BUS_DEV_HOME": str(tmp_path),
        "HL7BUS_DEV_JAVA_HOME": str(tmp_path / "no-such-jdk"),
        "PATH": "/usr/bin:/bin",
    }
    for name in ("KAFKA", "CONTROLLER", "REGISTRY", "REGISTRY_MANAGEMENT", "MLLP", "MLLP_METRICS"):
        env[f"HL7BUS_DEV_{name}_PORT"] = "0"
    assert _hl7bus("dev", "up", env=env).returncode == 1
    secret_file = tmp_path / "dev" / "web-token-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    done = _hl7bus("token", "create", "--role", "admin", "--name", "x", env=env)
    assert done.returncode == 0, done.stderr
    assert tokens.verify(SecretStr(secret_file.read_text().strip()), done.stdout.strip())
