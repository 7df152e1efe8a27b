"""The short soak CI runs: 20 s at 70% of the capacity measured first, no errors, flat memory."""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.slow


def test_twenty_seconds_at_seventy_percent_load_without_errors_or_memory_growth():
    rows, lines = soak.run(duration=20, capacity_seconds=3, concurrency=8, agents=2)
    errors, achieved, _latency, memory = rows
    detail = errors.detail
    report = "\n".join(lines)
    assert detail["capacity"] > 0, report
    assert detail["errors"] == {}, report
    # The pace was held (a loaded CI machine may shed a little, never most of it).
    assert achieved.ours >= 0.5 * detail["target_rate"], report
    assert memory.passed, report
    assert len(lines) >= 4 + 2  # header lines, four windows, verdict
