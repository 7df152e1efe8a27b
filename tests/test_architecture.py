"""The import graph flows one way, as docs/architecture.md draws it.

Read from the source with `ast` (nothing is imported): every import counts, including those
made only for type checking and those inside functions. The checks are plain functions of a
package folder, so that each is also run on a small package built to break it.
"""

from __future__ import annotations

import ast
import graphlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "operator_sim"
DOC = REPO / "docs" / "architecture.md"

LAYERS = {
    "_lazy": 0, "errors": 0,
    "protocol": 1, "pki": 1, "config": 1, "pdf": 1,
    "signature": 2, "timestamp": 2,
    "validation": 3,
    "store": 4, "testing": 4,
    "engine": 5, "pilotage": 5,
    "simulator": 6,
    "web": 7, "client": 7,
    "cli": 8, "pytest_plugin": 8, "operator_sim": 8,
}
"""Unit (a subpackage, a top-level module, or `operator_sim` for the package's own
`__init__`) → layer. A unit imports only its own modules and lower layers' units. A unit may
be placed before it exists (`errors`, `pdf`, `testing` are being written)."""

FUNCTION_IMPORTS = {
    ("operator_sim.cli", "*"):
        "each command loads what it runs: `--help` and `validate` start without the server",
    ("operator_sim.pytest_plugin", "*"):
        "the plugin loads in every pytest run where the package is installed",
    ("operator_sim.signature.result", "operator_sim.pki.store"):
        "cryptography kept off the validator's start (tests/protocol/test_startup_imports.py)",
    ("operator_sim.signature.cms", "operator_sim.signature.hanko"):
        "pyHanko takes half a second to import: only when a signature needs it",
    ("operator_sim.validation.validator", "operator_sim.signature.cms"):
        "pyHanko: only when an act carries a signature",
    ("operator_sim.validation.validator", "operator_sim.signature.pades"):
        "pyHanko: only when a PDF carries a signature",
}
"""Imports of operator_sim modules placed inside a function on purpose, with the reason."""


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package at `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             known: dict[str, Path]) -> list[str]:
    """The package's modules an import statement loads (the nearest existing module)."""
    package = module.split(".")[0]
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            base_name = ".".join([*base, *([node.module] if node.module else [])])
        else:
            base_name = node.module or ""
        names = []
        for alias in node.names:
            if f"{base_name}.{alias.name}" in known:
                names.append(f"{base_name}.{alias.name}")
            elif base_name == package and alias.name != "__version__":
                names.append(f"{package}.__init__")  # a name of the package's public surface
            else:
                names.append(base_name)
    resolved = []
    for name in names:
        if name == f"{package}.__init__":
            resolved.append(package)
            continue
        while name and name not in known:
            name = name.rpartition(".")[0]
        # A module's own ancestors are loaded by Python before it: not a dependency to draw.
        if name and name != module and not module.startswith(f"{name}."):
            resolved.append(name)
    return resolved


def imports(root: Path) -> list[Import]:
    """Every import of one of the package's modules by another, where it is written."""
    known = modules(root)
    found = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        functions = [node for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
        inside = {id(child) for function in functions for child in ast.walk(function)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module, path.name == "__init__.py", known):
                    found.append(Import(module, target, node.lineno, id(node) in inside))
    return found


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycle(root: Path) -> tuple[str, ...] | None:
    graph: dict[str, set[str]] = {module: set() for module in modules(root)}
    for found in imports(root):
        graph[found.source].add(found.target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return tuple(error.args[1])
    return None


def layer_violations(root: Path, layers: dict[str, int]) -> list[str]:
    violations = [f"{name} has no layer: place it in LAYERS and in the table of "
                  "docs/architecture.md" for name in {unit(m) for m in modules(root)} - set(layers)]
    for found in imports(root):
        source, target = unit(found.source), unit(found.target)
        if source != target and source in layers and target in layers \
                and layers[target] >= layers[source]:
            violations.append(f"{found.source}:{found.line} imports {found.target} "
                              f"(layer {layers[target]} ≥ {layers[source]})")
    return sorted(set(violations))


def function_imports(root: Path, allowed: dict[tuple[str, str], str]) -> tuple[list[str], set]:
    """Function-level imports not allowed, and the allowances no import uses any more."""
    refused, used = [], set()
    for found in imports(root):
        if not found.in_function:
            continue
        for key in ((found.source, "*"), (found.source, found.target)):
            if key in allowed:
                used.add(key)
                break
        else:
            refused.append(f"{found.source}:{found.line} imports {found.target} inside a function")
    return refused, set(allowed) - used


def documented(doc: str) -> tuple[set[str], set[str], dict[str, int]]:
    """The packages and modules the page has a heading for, and its layer table."""
    packages = set(re.findall(r"^### `operator_sim/(\w+)/`", doc, re.M))
    files = set(re.findall(r"^### `operator_sim/(\w+)\.py`", doc, re.M))
    table = {}
    for number, units in re.findall(r"^\|\s*(\d+)\s*\|([^|]*)\|", doc, re.M):
        for name in re.findall(r"`(\w+)`", units):
            table[name] = int(number)
    return packages, files, table


def undocumented(root: Path, doc: str, layers: dict[str, int]) -> list[str]:
    packages, files, table = documented(doc)
    present = {p.parent.name for p in root.glob("*/__init__.py")}
    present_files = {p.stem for p in root.glob("*.py")}
    problems = [f"package operator_sim/{name}/ is not described in the page"
                for name in sorted(present - packages)]
    problems += [f"the page describes operator_sim/{name}/, which does not exist"
                 for name in sorted(packages - present)]
    problems += [f"module operator_sim/{name}.py is not described in the page"
                 for name in sorted(present_files - files)]
    if table != layers:
        problems.append(f"the page's layer table {table} is not LAYERS {layers}")
    return problems


# -- the package as it is ------------------------------------------------------------------------

def test_no_import_cycle() -> None:
    assert cycle(PACKAGE) is None


def test_lower_layers_never_import_higher_ones() -> None:
    assert layer_violations(PACKAGE, LAYERS) == []


def test_no_import_inside_a_function_but_the_listed_ones() -> None:
    refused, unused = function_imports(PACKAGE, FUNCTION_IMPORTS)
    assert refused == []
    assert unused == set(), "allowances no import needs any more: remove them"


def test_the_page_describes_every_package_and_the_layers_in_force() -> None:
    assert undocumented(PACKAGE, DOC.read_text(encoding="utf-8"), LAYERS) == []


# -- each check catches what it is for -----------------------------------------------------------

@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A tiny package drawn like operator_sim: low ← high, documented."""
    root = tmp_path / "pkg"
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    (root / "__init__.py").write_text("")
    (root / "low" / "__init__.py").write_text("")
    (root / "low" / "a.py").write_text("X = 1\n")
    (root / "high" / "__init__.py").write_text("")
    (root / "high" / "b.py").write_text("from ..low.a import X\n")
    (root / "tool.py").write_text("from .high import b\n")
    return root


LAYERS_OF_PACKAGE = {"low": 0, "high": 1, "tool": 2, "pkg": 2}
DOC_OF_PACKAGE = """
| 0 | `low` | |
| 1 | `high` | |
| 2 | `tool`, `pkg` | |
### `operator_sim/low/`
### `operator_sim/high/`
### `operator_sim/tool.py`
### `operator_sim/__init__.py`
"""


def test_the_tiny_package_passes_every_check(package: Path) -> None:
    assert cycle(package) is None
    assert layer_violations(package, LAYERS_OF_PACKAGE) == []
    assert function_imports(package, {}) == ([], set())
    assert undocumented(package, DOC_OF_PACKAGE, LAYERS_OF_PACKAGE) == []


def test_a_cycle_is_found_even_behind_type_checking(package: Path) -> None:
    (package / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high.b import X\nX = 1\n")
    assert set(cycle(package) or ()) == {"pkg.low.a", "pkg.high.b"}


def test_an_upward_import_is_refused(package: Path) -> None:
    (package / "low" / "c.py").write_text("import pkg.tool\n")
    assert layer_violations(package, LAYERS_OF_PACKAGE) == [
        "pkg.low.c:1 imports pkg.tool (layer 2 ≥ 0)"]


def test_a_sibling_import_is_refused_and_an_unplaced_unit_named(package: Path) -> None:
    (package / "side.py").write_text("from .tool import b\n")
    assert layer_violations(package, {**LAYERS_OF_PACKAGE, "side": 2}) == [
        "pkg.side:1 imports pkg.tool (layer 2 ≥ 2)"]
    assert layer_violations(package, LAYERS_OF_PACKAGE)[0].startswith("side has no layer")


def test_importing_the_public_surface_from_below_is_refused(package: Path) -> None:
    (package / "low" / "d.py").write_text("from pkg import something\n")
    assert layer_violations(package, LAYERS_OF_PACKAGE) == [
        "pkg.low.d:1 imports pkg (layer 2 ≥ 0)"]


def test_a_function_level_import_needs_a_reason(package: Path) -> None:
    (package / "high" / "b.py").write_text("def f():\n    from ..low.a import X\n    return X\n")
    assert function_imports(package, {}) == (
        ["pkg.high.b:2 imports pkg.low.a inside a function"], set())
    allowed = {("pkg.high.b", "pkg.low.a"): "a reason", ("pkg.tool", "*"): "gone"}
    assert function_imports(package, allowed) == ([], {("pkg.tool", "*")})


def test_the_page_must_follow_the_packages(package: Path) -> None:
    (package / "new").mkdir()
    (package / "new" / "__init__.py").write_text("")
    (package / "extra.py").write_text("")
    page = DOC_OF_PACKAGE.replace("### `operator_sim/high/`", "### `operator_sim/gone/`")
    assert undocumented(package, page, {**LAYERS_OF_PACKAGE, "pkg": 3}) == [
        "package operator_sim/high/ is not described in the page",
        "package operator_sim/new/ is not described in the page",
        "the page describes operator_sim/gone/, which does not exist",
        "module operator_sim/extra.py is not described in the page",
        f"the page's layer table {dict(LAYERS_OF_PACKAGE)} is not LAYERS "
        f"{ {**LAYERS_OF_PACKAGE, 'pkg': 3} }",
    ]
