"""The package's type hints as a user's type checker meets them (PEP 561 `py.typed`)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import operator_sim

PACKAGE = Path(operator_sim.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"

USER_CODE = '''
from operator_sim.protocol.names import ArchiveName

name: int = ArchiveName.parse("EACT--491011698--20240115-1.tar.gz")
'''


@pytest.mark.slow
def test_a_user_project_is_type_checked_against_the_installed_package(tmp_path):
    """mypy reads an installed package's hints only when it ships `py.typed`; without it the
    import is skipped as untyped and the user's mistake below goes unseen."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "operator_sim").symlink_to(PACKAGE, target_is_directory=True)
    (tmp_path / "use.py").write_text(USER_CODE, encoding="utf-8")
    # A PYTHONPATH entry is an installed location for mypy, like site-packages.
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", sys.executable,
         "--no-incremental", "use.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert "py.typed" not in out, out
    assert 'use.py:4: error: Incompatible types in assignment (expression has type ' \
           '"ArchiveName", variable has type "int")' in out, out
    assert done.returncode == 1, out


def test_the_typed_marker_is_in_the_package_data():
    """So that a wheel carries it too (tests/test_public_api.py checks the file itself)."""
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["operator_sim"]
