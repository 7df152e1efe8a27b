import datetime as dt
import json
from pathlib import Path

import pytest

from operator_sim.validation.validator import ValidationPolicy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="session")
def manifest() -> list[dict]:
    return json.loads((FIXTURES / "cases" / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def policy() -> ValidationPolicy:
    return ValidationPolicy(today=dt.date(2025, 1, 1))
