"""Fetching the Kafka jars and the Apicurio Registry archive with Maven, once, into the cache.

A finished download is marked by a ``.complete`` file listing what it holds;
an interrupted one (no marker) is fetched again, and a marked one whose files
are missing or damaged is reported with the command that clears it.
"""

from __future__ import annotations

import importlib.resources
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

from hl7bus.errors import DevStackError
from hl7bus.settings import DevStackSettings

MARKER = ".complete"


def kafka_dir(settings: DevStackSettings) -> Path:
    return settings.cache_dir / f"kafka-{settings.kafka_version}"


def registry_dir(settings: DevStackSettings) -> Path:
    return settings.cache_dir / f"apicurio-registry-{settings.registry_version}"


def _maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevStackError(
            "Maven (`mvn`) is needed once to fetch the Kafka and registry jars and is not on "
            "PATH; install it (e.g. `apt-get install maven`) and run again."
        )
    return mvn


def _run_maven(args: list[str], cwd: Path, what: str) -> None:
    cmd = [_maven(), "-B", "-q", *args]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        tail = " ".join((out.stdout + out.stderr).strip().splitlines()[-3:])[:400]
        raise DevStackError(
            f"Maven could not fetch {what} (exit {out.returncode}: {tail}); check that the Maven "
            "repository is reachable and run again."
        )


def _damaged(where: Path, why: str) -> DevStackError:
    return DevStackError(
        f"The cache at {where} is damaged ({why}); remove it with `rm -rf {where}` and run again."
    )


def _check_jars(where: Path, names: list[str]) -> None:
    for name in names:
        jar = where / name
        if not jar.is_file():
            raise _damaged(where.parent, f"{name} is missing")
        try:
            with zipfile.ZipFile(jar) as archive:
                if archive.testzip() is not None:
                    raise _damaged(where.parent, f"{name} fails its checksum")
        except zipfile.BadZipFile:
            raise _damaged(where.parent, f"{name} is not a jar") from None


def ensure_kafka(settings: DevStackSettings) -> Path:
    """The folder of Kafka's runtime jars, fetched with Maven on first use."""
    target = kafka_dir(settings)
    libs = target / "libs"
    marker = target / MARKER
    if marker.is_file():
        names = marker.read_text().split()
        if not names:
            raise _damaged(target, "its list of jars is empty")
        _check_jars(libs, [n for n in names if n.startswith("kafka")])
        for name in names:
            if not (libs / name).is_file():
                raise _damaged(target, f"{name} is missing")
        return libs
    shutil.rmtree(target, ignore_errors=True)
    libs.mkdir(parents=True)
    template = importlib.resources.files("hl7bus.devstack").joinpath("kafka-pom.xml").read_text()
    pom = (
        template.replace("@KAFKA_VERSION@", settings.kafka_version)
        .replace("@LOG4J_VERSION@", settings.log4j_version)
        .replace("@SLF4J_VERSION@", settings.slf4j_version)
    )
    with tempfile.TemporaryDirectory(prefix="hl7bus-mvn-") as work:
        Path(work, "pom.xml").write_text(pom)
        _run_maven(
            [
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            Path(work),
            f"Apache Kafka {settings.kafka_version}",
        )
    names = sorted(p.name for p in libs.glob("*.jar"))
    if not any(n.startswith("kafka_2.13") for n in names):
        raise _damaged(target, "Maven finished without the kafka_2.13 jar")
    marker.write_text("\n".join(names) + "\n")
    return libs


def ensure_registry(settings: DevStackSettings) -> Path:
    """The unpacked Apicurio Registry application (holding ``quarkus-run.jar``)."""
    target = registry_dir(settings)
    marker = target / MARKER
    if marker.is_file():
        run_jar = target / "quarkus-run.jar"
        if not run_jar.is_file() or not (target / "lib" / "main").is_dir():
            raise _damaged(target, "quarkus-run.jar or lib/main is missing")
        _check_jars(target, ["quarkus-run.jar"])
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    version = settings.registry_version
    with tempfile.TemporaryDirectory(prefix="hl7bus-mvn-") as work:
        _run_maven(
            [
                "dependency:copy",
                f"-Dartifact=io.apicurio:apicurio-registry-app:{version}:tar.gz:all",
                f"-DoutputDirectory={work}",
            ],
            Path(work),
            f"Apicurio Registry {version}",
        )
        archives = list(Path(work).glob("*.tar.gz"))
        if not archives:
            raise _damaged(target, "Maven finished without the registry archive")
        try:
            with tarfile.open(archives[0]) as archive:
                archive.extractall(target, filter="data")
        except (tarfile.TarError, OSError) as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise DevStackError(
                f"The Apicurio Registry archive could not be unpacked ({exc}); run again."
            ) from exc
    if not (target / "quarkus-run.jar").is_file():
        raise _damaged(target, "the archive has no quarkus-run.jar")
    marker.write_text("quarkus-run.jar\n")
    return target
