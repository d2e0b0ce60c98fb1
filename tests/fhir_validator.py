"""HAPI FHIR's ``FhirInstanceValidator`` in a JVM: the field's reference check of the FHIR
bundles hl7bus builds (``hl7bus.services.timeline.fhir``).

:func:`build` builds the Maven project in ``tests/fhir/`` once — the first build fetches
HAPI FHIR 8.6.5 and its dependencies (about 180 MB) into the local Maven repository — and
again only when its sources change; the jar and its dependencies stay in
``tests/fhir/target/`` (classpath: ``target/fhir-validator-0.1.0.jar`` and ``target/lib/*``).
:meth:`Validator.validate` then runs one JVM over a whole list of resources, each a line on
its standard input, and returns one :class:`Report` per resource.  Starting the JVM and
loading FHIR's definitions takes most of the time (tens of seconds); each bundle after that
takes milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hl7bus.devstack.java import find_java

PROJECT = Path(__file__).resolve().parent / "fhir"
JAR = PROJECT / "target" / "fhir-validator-0.1.0.jar"
LIB = PROJECT / "target" / "lib"
MAIN_CLASS = "hl7bus.fhir.ValidateBundles"
JAVA_MAJOR = 17  # HAPI FHIR 8 needs Java 17
# One short run: the client compiler only (a third less CPU than tiered compilation for a
# run dominated by loading FHIR's definitions), the serial collector, room for the corpus.
JVM_OPTIONS = ("-Xmx2g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


class ValidatorUnavailable(RuntimeError):
    """The validator could not be built or run (no Maven, no Java, a failed build)."""


@dataclass(frozen=True, slots=True)
class Issue:
    severity: str  # fatal, error, warning, information
    location: str
    message: str
    message_id: str | None = None
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity in ("error", "fatal")


@dataclass(frozen=True, slots=True)
class Report:
    source: str
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]


@dataclass(frozen=True, slots=True)
class Validator:
    java: Path
    classpath: str
    build_seconds: float  # 0 when the build was already there

    def validate(
        self, resources: Sequence[dict[str, Any]], *, timeout: float = 1800
    ) -> list[Report]:
        """One report per resource, in order: one JVM for the whole list."""
        if not resources:
            return []
        lines = "".join(
            json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in resources
        )
        try:
            done = subprocess.run(
                [str(self.java), *JVM_OPTIONS, "-cp", self.classpath, MAIN_CLASS],
                input=lines.encode("utf-8"),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ValidatorUnavailable(
                f"the FHIR validator did not finish in {timeout:.0f} s"
            ) from exc
        out = [line for line in done.stdout.decode("utf-8").splitlines() if line.startswith("{")]
        if done.returncode != 0 or len(out) != len(resources):
            tail = " | ".join(done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:])
            raise ValidatorUnavailable(
                f"the FHIR validator exited {done.returncode} after {len(out)} of "
                f"{len(resources)} reports: {tail}"
            )
        return [_report(json.loads(line)) for line in out]


def _report(found: dict[str, Any]) -> Report:
    return Report(
        source=found["source"],
        issues=tuple(
            Issue(
                severity=i["severity"],
                location=i["location"] or "",
                message=i["message"] or "",
                message_id=i.get("message_id"),
                line=i.get("line"),
            )
            for i in found["issues"]
        ),
    )


def _stale() -> bool:
    if not JAR.exists() or not LIB.is_dir():
        return True
    built = JAR.stat().st_mtime
    sources = [PROJECT / "pom.xml", *(PROJECT / "src").rglob("*.java")]
    return any(src.stat().st_mtime > built for src in sources)


def build(*, timeout: float = 1800) -> Validator:
    """The validator, built with Maven unless already built from the current sources."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ValidatorUnavailable("mvn is not on PATH: the FHIR validator is built with Maven")
    try:
        java = find_java(
            JAVA_MAJOR,
            explicit=None,
            purpose="The FHIR validator (HAPI FHIR 8)",
            setting="JAVA_HOME",
        )
    except Exception as exc:
        raise ValidatorUnavailable(str(exc)) from exc
    seconds = 0.0
    if _stale():
        started = time.monotonic()
        env = {**os.environ, "JAVA_HOME": str(java.resolve().parent.parent)}
        try:
            done = subprocess.run(
                [mvn, "-q", "-B", "package"],
                cwd=PROJECT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ValidatorUnavailable(f"mvn package did not finish in {timeout:.0f} s") from exc
        if done.returncode != 0 or not JAR.exists():
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise ValidatorUnavailable(f"mvn package failed in {PROJECT}: {tail}")
        seconds = time.monotonic() - started
    return Validator(java, os.pathsep.join([str(JAR), str(LIB / "*")]), seconds)
