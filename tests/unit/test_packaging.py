"""Every Python package of the repository is listed in pyproject.toml, so that an
ordinary (non-editable) install ships all of hl7bus."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = {
    "hl7bus": "hl7bus",
    "connectors": "hl7bus.connectors",
    "services": "hl7bus.services",
    "schemas": "hl7bus.schemas",
}


def test_every_package_is_listed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for folder, package in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((package, *relative)))
    assert found <= listed, f"add to pyproject.toml: {sorted(found - listed)}"
