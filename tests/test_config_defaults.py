"""Defaults that depend on the machine."""

from __future__ import annotations

import os

from operator_sim.config import Config, default_workers


def test_validation_workers_leave_one_core_to_the_services_own_process():
    assert [default_workers(cores) for cores in (1, 2, 3, 4, 5, 8, 64)] == [1, 1, 2, 3, 4, 4, 4]


def test_the_default_counts_the_cores_this_process_may_run_on(monkeypatch):
    """A container pinned to two cores of a large host gets one worker, not four."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert Config().workers == 1
