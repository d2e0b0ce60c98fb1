"""The pure core imports no socket, Kafka, HTTP or database (DESIGN.md, "Shape").

The pure core is the HL7 parser, the mapping, the event model, Avro without I/O, the
ingest records, and the timeline service's fold (its modules but the store, its SQL, the
consumer loop and the rebuild).  Two checks, each of which fails when such an import is
added:

- importing every pure module in a fresh interpreter, no hl7bus module imports an I/O
  library or an hl7bus edge module, and no I/O library is loaded at all;
- no pure module's source names one in any ``import``, also inside a function (an import
  that runs only when the function does).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PURE_PACKAGES = ("hl7bus.hl7", "hl7bus.mapping", "hl7bus.events", "hl7bus.avro", "hl7bus.simulate")
PURE_MODULES = ("hl7bus.ingest.records",)
# The timeline service's modules that do I/O; every other module of it is its pure fold.
TIMELINE = "hl7bus.services.timeline"
TIMELINE_EDGES = frozenset({"store", "store_sql", "consumer", "rebuild"})

# Libraries of sockets, Kafka, HTTP and databases.
IO_LIBRARIES = (
    "confluent_kafka",
    "psycopg",
    "sqlite3",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "socket",
    "asyncio",
)
# Loaded by third-party libraries the core uses for their own ends (pydantic reads
# ``email.utils``, which imports ``socket``): forbidden to hl7bus's own modules only.
STDLIB_IO = frozenset({"socket", "asyncio"})
# hl7bus's own edges.
EDGE_MODULES = (
    "hl7bus.kafka",
    "hl7bus.connectors",
    "hl7bus.commands",
    "hl7bus.devstack",
    "hl7bus.ingest.delivery",
    "hl7bus.operators",
    "hl7bus.services.web",
    *(f"{TIMELINE}.{name}" for name in sorted(TIMELINE_EDGES)),
)
FORBIDDEN = (*IO_LIBRARIES, *EDGE_MODULES)


def _submodules(package: str) -> list[str]:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    folder = Path(next(iter(spec.submodule_search_locations)))
    return [
        package if path.stem == "__init__" else f"{package}.{path.stem}"
        for path in sorted(folder.glob("*.py"))
    ]


def pure_modules() -> list[str]:
    found = [m for package in PURE_PACKAGES for m in _submodules(package)]
    found += PURE_MODULES
    found += [m for m in _submodules(TIMELINE) if m.rsplit(".", 1)[-1] not in TIMELINE_EDGES]
    return found


def _forbidden(name: str) -> str | None:
    """The forbidden module ``name`` is (or is inside of), else None."""
    return next((f for f in FORBIDDEN if name == f or name.startswith(f + ".")), None)


# In a fresh interpreter: import the modules named in argv[1] with every import watched;
# print the imports of forbidden modules made by the modules of the packages in argv[3].
_PROBE = textwrap.dedent(
    """
    import builtins, importlib, json, sys

    modules, forbidden, scope = (json.loads(a) for a in sys.argv[1:4])
    scope = tuple(scope)

    def hit(name):
        return next((f for f in forbidden if name == f or name.startswith(f + ".")), None)

    found = []
    real_import = builtins.__import__

    def watched(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__") or ""
        if level:
            package = ((globals or {}).get("__package__") or "").split(".")
            base = ".".join(package[: len(package) - level + 1])
            name = f"{base}.{name}" if name else base
        if importer.split(".")[0] in scope:
            for target in [name, *(f"{name}.{item}" for item in fromlist or ())]:
                if hit(target):
                    found.append([importer, target])
        return real_import(name, globals, locals, fromlist, 0)

    builtins.__import__ = watched
    for module in modules:
        importlib.import_module(module)
    loaded = sorted({hit(m) for m in sys.modules if hit(m)})
    print(json.dumps({"imports": found, "loaded": loaded}))
    """
)


def probe(modules: list[str], scope: tuple[str, ...] = ("hl7bus",), path: str = "") -> dict:
    """What importing ``modules`` in a fresh interpreter imports of the forbidden."""
    env_path = [path] if path else []
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path[:0] = {env_path!r}\n" + _PROBE,
            json.dumps(modules),
            json.dumps(list(FORBIDDEN)),
            json.dumps(list(scope)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (never run)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
        else:
            todo += ast.iter_child_nodes(node)
    return found


def source_imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module an ``import`` in ``path`` names (at any depth, also inside a function),
    with its line."""
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                prefix = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{prefix}.{base}" if base else prefix
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def forbidden_in_source(path: Path, module: str) -> list[str]:
    return [
        f"{path.name}:{line} imports {name}"
        for line, name in sorted(source_imports(path, module))
        if _forbidden(name)
    ]


def _source(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    return Path(spec.origin)


def test_the_pure_core_is_found() -> None:
    modules = pure_modules()
    for expected in (
        "hl7bus.hl7.parse",
        "hl7bus.mapping.router",
        "hl7bus.events.records",
        "hl7bus.avro.writer",
        "hl7bus.ingest.records",
        f"{TIMELINE}.order",
        f"{TIMELINE}.identity",
        f"{TIMELINE}.summary",
        f"{TIMELINE}.entries",
        f"{TIMELINE}.fhir",
        f"{TIMELINE}.codec",
    ):
        assert expected in modules
    assert not any(m.rsplit(".", 1)[-1] in TIMELINE_EDGES for m in modules if TIMELINE in m)


def test_importing_the_pure_core_loads_no_io() -> None:
    found = probe(pure_modules())
    imports = [f"{importer} imports {name}" for importer, name in found["imports"]]
    assert imports == []
    assert [name for name in found["loaded"] if name not in STDLIB_IO] == []


@pytest.mark.parametrize("module", pure_modules())
def test_no_pure_module_names_io_in_an_import(module: str) -> None:
    assert forbidden_in_source(_source(module), module) == []


def test_the_checks_see_an_io_import(tmp_path: Path) -> None:
    """Both checks catch what they are for: an import at the top of a module, one through
    another module of the project, and one inside a function (a type-only import is no
    import)."""
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text("import socket\nfrom planted import helper\n")
    (package / "helper.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from hl7bus.kafka import topics\n\n"
        "if TYPE_CHECKING:\n    import psycopg\n\n\n"
        "def later():\n    import confluent_kafka\n"
    )
    found = probe(["planted.core"], scope=("planted",), path=str(tmp_path))
    assert ["planted.core", "socket"] in found["imports"]
    assert ["planted.helper", "hl7bus.kafka"] in found["imports"]
    assert "hl7bus.kafka" in found["loaded"]
    lazy = forbidden_in_source(package / "helper.py", "planted.helper")
    assert lazy == [
        "helper.py:2 imports hl7bus.kafka",
        "helper.py:2 imports hl7bus.kafka.topics",
        "helper.py:9 imports confluent_kafka",
    ]
