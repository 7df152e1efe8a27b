"""Production code never imports test material, and the PDF package stands on its own.

Imports are read from the source (inside functions too), so an import moved into a function
to hide it still counts. `operator_sim.testing` is for tests, benchmarks and the command that
hands the corpus to users (`operator-sim envelope corpus`, in `operator_sim.cli`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import operator_sim
from operator_sim import pdf
from operator_sim.pdf import bordereau, courrier, tampon

PACKAGE = Path(operator_sim.__file__).resolve().parent
MAY_USE_TESTING = ("operator_sim.testing", "operator_sim.cli")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path) -> Iterator[tuple[str, str]]:
    """(module, imported module) for every import statement of the package at `root`."""
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield module, alias.name
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:  # `from . import testing` names the module itself
                    yield module, f"{target}.{alias.name}" if not node.module else target


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def importers_of_testing(root: Path) -> set[str]:
    return {module for module, target in imports(root)
            if within(target, f"{root.name}.testing")
            and not any(within(module, allowed) for allowed in MAY_USE_TESTING)}


def test_no_production_module_imports_operator_sim_testing():
    assert any(within(target, "operator_sim.testing") for _, target in imports(PACKAGE)), \
        "the command line should still reach the corpus"
    assert importers_of_testing(PACKAGE) == set()


def test_the_pdf_package_imports_nothing_else_of_operator_sim():
    """It sits below the engine, pilotage and web, which all print with it."""
    above = {(module, target) for module, target in imports(PACKAGE)
             if within(module, "operator_sim.pdf") and within(target, "operator_sim")
             and not within(target, "operator_sim.pdf") and target != "operator_sim._lazy"}
    assert above == set()


def test_an_import_hidden_in_a_function_is_found(tmp_path):
    root = tmp_path / "operator_sim"
    (root / "testing").mkdir(parents=True)
    (root / "engine").mkdir()
    for init in (root, root / "testing", root / "engine"):
        (init / "__init__.py").write_text("")
    (root / "testing" / "corpus.py").write_text("def minimal_pdf(text): ...\n")
    (root / "engine" / "letters.py").write_text(
        "def letter():\n    from ..testing.corpus import minimal_pdf\n    return minimal_pdf('x')\n")
    (root / "engine" / "other.py").write_text("from .. import testing\n")
    (root / "cli.py").write_text("def corpus():\n    from .testing import corpus\n")
    assert importers_of_testing(root) == {"operator_sim.engine.letters", "operator_sim.engine.other"}


def test_the_pdf_surface_names_what_its_modules_define():
    for name in pdf.__all__:
        assert getattr(pdf, name) in (getattr(m, name, None) for m in (bordereau, courrier, tampon))


def test_serving_loads_neither_reportlab_nor_pypdf_until_a_pdf_is_drawn():
    """They take about 0.13 s to import: every `serve` and every pytest session with the
    plugin paid it, though most never draw a PDF (the `pdf` package's names load on use)."""
    code = ("import sys, operator_sim.simulator, operator_sim.web.server, operator_sim.cli; "
            "print(sorted(m for m in ('reportlab', 'pypdf') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
    code = ("import sys; from operator_sim import pdf; pdf.render_courrier; "
            "print(sorted(m for m in ('reportlab', 'pypdf') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "['pypdf', 'reportlab']"


def test_serving_derives_no_password_hash_until_a_login_is_checked():
    """scrypt is slow by design (tens of milliseconds): the hash an unknown login is checked
    against is made at the first login, not when the server's modules load."""
    code = ("import hashlib; calls = []; real = hashlib.scrypt\n"
            "hashlib.scrypt = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
            "import operator_sim.simulator, operator_sim.web.server, operator_sim.cli\n"
            "import operator_sim.pki.identity\n"
            "print(len(calls))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "0"
