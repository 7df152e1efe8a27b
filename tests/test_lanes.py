"""What the README promises about running the tests: two lanes on every core, one PKI per
session copied per module, Hypothesis profiles chosen by an environment variable."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]


def slow(item: object) -> bool:
    marks = getattr(item, "pytestmark", [])
    return any(m.name == "slow" for m in (marks if isinstance(marks, list) else [marks]))


def test_scripts_test_runs_the_suite_on_every_core_and_ci_runs_it() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    assert 'pytest -n auto "$@"' in script
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text()
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("pytest-xdist") for d in extra["test"])


def test_the_slow_marker_is_registered_and_set_on_each_kind_the_readme_names(
        pytestconfig: pytest.Config) -> None:
    assert any(line.startswith("slow:") for line in pytestconfig.getini("markers"))
    from tests.crash import test_sigkill, test_soak_short
    from tests.protocol import test_archive, test_name_fast_path
    from tests.web import test_dashboard_browser, test_serve

    assert slow(test_sigkill) and slow(test_soak_short)  # crash, soak
    assert slow(test_dashboard_browser)  # browser
    assert slow(test_serve)  # operator-sim serve in a subprocess
    assert slow(test_archive.test_reading_and_writing_a_sixty_mib_member_keeps_memory_flat)
    assert slow(test_name_fast_path.test_whole_name_regex_answers_as_the_field_by_field_parse)


def test_each_module_serves_its_own_copy_of_the_one_session_pki(
        shared_pki_dir: Path, operator_sim_pki: Path) -> None:
    assert shared_pki_dir != operator_sim_pki
    for name in ("roots.pem", "intermediates.pem"):
        assert (shared_pki_dir / name).read_bytes() == (operator_sim_pki / name).read_bytes()


def test_hypothesis_profiles_ci_by_default_and_dev_with_fewer_examples() -> None:
    assert settings.get_profile("ci").deadline is None
    assert settings.get_profile("dev").max_examples < settings.get_profile("ci").max_examples
    assert settings.get_current_profile_name() == os.environ.get("HYPOTHESIS_PROFILE", "ci")
