"""``hl7bus send`` as a user runs it, against the real MLLP connector on the real broker:
the ACK codes it reports, its exit status, and mutual TLS with throwaway certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port, read_topic

pytestmark = pytest.mark.integration


def adt(control_id: str, mrn: str = "111") -> str:
    return (
        f"MSH|^~\\&|REG|GENHOSP|BUS|HOSP|20240115103000||ADT^A01|{control_id}|P|2.5\r"
        "EVN|A01|20240115103000\r"
        f"PID|1||{mrn}^^^GENHOSP^MR||Doe^Jane||19800101|F\r"
        "PV1|1|I|WARD^12^A\r"
    )


def unsupported(control_id: str) -> str:
    """An ADT^A01 whose MSH-12 is no v2 version: rejected, AR."""
    return adt(control_id).replace("|P|2.5\r", "|P|3.0\r")


def send(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", "send", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_all_accepted_is_exit_0(start_mllp, bus_topics, tmp_path):
    connector = start_mllp()
    path = tmp_path / "good.hl7"
    path.write_text(adt("G-1") + adt("G-2", "222") + adt("G-3", "333"))
    done = send(path, "--port", connector.port)
    assert (done.returncode, done.stdout, done.stderr) == (0, "sent 3 messages: AA 3\n", "")
    raw = read_topic(bus_topics, bus_topics.topics.raw, at_least=3)
    assert sorted(r.value["message_control_id"] for r in raw) == ["G-1", "G-2", "G-3"]


def test_a_rejected_message_is_exit_2_and_named(start_mllp, tmp_path):
    connector = start_mllp()
    first, second = tmp_path / "a.hl7", tmp_path / "b.hl7"
    first.write_text(adt("A-1") + unsupported("BAD-1"))
    second.write_text("FHS|^~\\&|REG\rBHS|^~\\&|REG\r" + adt("B-1") + adt("B-2") + "BTS|2\rFTS|1\r")
    done = send(first, second, "--port", connector.port)
    assert done.returncode == 2, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sent 4 messages: AA 3, AR 1"
    assert lines[1].startswith("  AR BAD-1: MSH-12 (version id) is '3.0'")
    assert len(lines) == 2


def test_no_listener_is_exit_1_with_one_sentence(tmp_path):
    path = tmp_path / "good.hl7"
    path.write_text(adt("G-1"))
    port = free_port()
    done = send(path, "--port", port, "--timeout", "5")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"hl7bus: could not connect to 127.0.0.1:{port}")
    assert done.stderr.count("\n") == 1


# -- mutual TLS -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed none of these


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str):
    from cryptography.x509 import Name, NameAttribute
    from cryptography.x509.oid import NameOID

    return Name([NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, cert, key) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _certificate(
    subject: str, key, issuer: str, issuer_key, *, ca: bool = False, usage=None, names=None
):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder = tmp_path / "pki"
    folder.mkdir()
    ca_key, other_key = _key(), _key()
    ca, _ = _write(
        folder,
        "ca",
        _certificate("hl7bus test CA", ca_key, "hl7bus test CA", ca_key, ca=True),
        ca_key,
    )
    other, _ = _write(
        folder,
        "other-ca",
        _certificate("another CA", other_key, "another CA", other_key, ca=True),
        other_key,
    )
    server_key, client_key = _key(), _key()
    server = _certificate(
        "127.0.0.1",
        server_key,
        "hl7bus test CA",
        ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        names=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client = _certificate(
        "REG GENHOSP", client_key, "hl7bus test CA", ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    server_cert, server_key_path = _write(folder, "server", server, server_key)
    client_cert, client_key_path = _write(folder, "client", client, client_key)
    return Pki(ca, server_cert, server_key_path, client_cert, client_key_path, other)


@pytest.fixture
def mutual_tls(start_mllp, pki):
    return start_mllp(
        HL7BUS_MLLP_TLS_CERT=str(pki.server_cert),
        HL7BUS_MLLP_TLS_KEY=str(pki.server_key),
        HL7BUS_MLLP_TLS_CLIENT_CA=str(pki.ca),
    )


def test_mutual_tls_with_a_client_certificate(mutual_tls, pki, bus_topics, tmp_path):
    path = tmp_path / "good.hl7"
    path.write_text(adt("T-1") + adt("T-2"))
    done = send(
        path,
        "--port",
        mutual_tls.port,
        "--tls",
        "--ca",
        pki.ca,
        "--cert",
        pki.client_cert,
        "--key",
        pki.client_key,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "sent 2 messages: AA 2\n", "")
    raw = read_topic(bus_topics, bus_topics.topics.raw, at_least=2)
    assert sorted(r.value["message_control_id"] for r in raw) == ["T-1", "T-2"]


def test_a_client_without_a_certificate_is_refused(mutual_tls, pki, bus_topics, tmp_path):
    path = tmp_path / "good.hl7"
    path.write_text(adt("N-1"))
    done = send(path, "--port", mutual_tls.port, "--tls", "--ca", pki.ca, "--timeout", "10")
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("hl7bus: ") and done.stderr.count("\n") == 1
    assert "certificate" in done.stderr
    assert "Traceback" not in done.stderr
    assert read_topic(bus_topics, bus_topics.topics.raw, timeout=3, quiet_s=1) == []


def test_a_listener_the_client_does_not_trust_is_refused(mutual_tls, pki, tmp_path):
    path = tmp_path / "good.hl7"
    path.write_text(adt("U-1"))
    done = send(
        path,
        "--port",
        mutual_tls.port,
        "--tls",
        "--ca",
        pki.other_ca,
        "--cert",
        pki.client_cert,
        "--key",
        pki.client_key,
    )
    assert done.returncode == 1
    assert "hl7bus: the TLS handshake with 127.0.0.1" in done.stderr
    assert "certificate verify failed" in done.stderr


def test_plain_mllp_to_a_tls_listener_fails_cleanly(mutual_tls, tmp_path):
    path = tmp_path / "good.hl7"
    path.write_text(adt("P-1"))
    done = send(path, "--port", mutual_tls.port, "--timeout", "5")
    assert done.returncode == 1
    assert done.stderr.startswith("hl7bus: ") and done.stderr.count("\n") == 1
