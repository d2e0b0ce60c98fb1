"""Dependencies do not move under the project silently: each runtime dependency in
pyproject.toml has a ceiling, constraints.txt pins the tested version of every package
inside pyproject's ranges, and what is installed is what was pinned."""

from __future__ import annotations

import importlib.metadata
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from paths import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
OPTIONAL = {
    extra: [Requirement(text) for text in requirements]
    for extra, requirements in PYPROJECT["project"].get("optional-dependencies", {}).items()
}
# Operators that put a ceiling on a version: `~=` and `==` imply one.
CEILINGS = {"<", "<=", "==", "===", "~="}


def constraints() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, line in enumerate((REPO / "constraints.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, (
            f"constraints.txt:{number}: {line!r} is not one exact version (name==X.Y.Z)"
        )
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"constraints.txt:{number}: {name} pinned twice"
        pins[name] = Version(specs[0].version)
    return pins


PINS = constraints()


def test_runtime_dependencies_are_listed():
    assert RUNTIME, "pyproject.toml lists no runtime dependency"


@pytest.mark.parametrize("requirement", RUNTIME, ids=str)
def test_runtime_dependency_has_a_ceiling(requirement: Requirement):
    operators = {spec.operator for spec in requirement.specifier}
    assert operators & CEILINGS, (
        f"{requirement}: give it an upper bound (<next minor or major not yet tested)"
    )


@pytest.mark.parametrize(
    "requirement",
    RUNTIME + [r for extra in OPTIONAL.values() for r in extra],
    ids=str,
)
def test_constraints_pin_each_dependency_inside_its_range(requirement: Requirement):
    name = canonicalize_name(requirement.name)
    assert name in PINS, f"constraints.txt does not pin {name}"
    assert requirement.specifier.contains(PINS[name], prereleases=True), (
        f"constraints.txt pins {name}=={PINS[name]}, outside pyproject's {requirement}"
    )


def test_the_project_itself_is_not_pinned():
    assert canonicalize_name(PYPROJECT["project"]["name"]) not in PINS


@pytest.mark.parametrize("requirement", RUNTIME, ids=str)
def test_installed_runtime_dependency_is_the_pinned_one(requirement: Requirement):
    name = canonicalize_name(requirement.name)
    installed = Version(importlib.metadata.version(name))
    assert installed == PINS.get(name), (
        f"{name} {installed} is installed, constraints.txt says {PINS.get(name)}: "
        "run `make setup` (pip install -c constraints.txt -e '.[test,devstack]')"
    )


def test_license_is_an_spdx_expression():
    # PEP 639: a string; the {text = ...} table is deprecated, and setuptools reads the
    # string form from 77 on.
    assert isinstance(PYPROJECT["project"]["license"], str)
    backend = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    setuptools = next(r for r in backend if canonicalize_name(r.name) == "setuptools")
    assert not setuptools.specifier.contains("76.9"), f"{setuptools}: needs >=77"
