"""Batches never fork a multi-threaded process; a one-thread process (the CLI) still forks."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from operator_sim.validation.batch import PARALLEL_THRESHOLD, find_archives, validate_many

from .conftest import FIXTURES

pytestmark = pytest.mark.slow  # fresh interpreters and forked workers

CASES = FIXTURES / "cases"


@pytest.fixture(scope="module")
def archives() -> list[Path]:
    found = find_archives([CASES])
    assert len(found) >= PARALLEL_THRESHOLD  # large enough to be shared out
    return found


def test_a_batch_beside_another_thread_is_not_forked_and_still_complete(
        archives, policy, monkeypatch: pytest.MonkeyPatch) -> None:
    def fork() -> int:
        raise AssertionError("fork of a multi-threaded process")

    serial = validate_many(archives, policy, jobs=1)
    monkeypatch.setattr(os, "fork", fork)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="another thread")
    other.start()
    try:
        seen = []
        parallel = validate_many(archives, policy, jobs=2, on_done=seen.append)
    finally:
        stop.set()
        other.join()
    assert parallel == serial == seen  # every report, in archive order, handed on once
    assert [r.source for r in parallel] == [str(p) for p in archives]


_COUNT_FORKS = """
import os, sys
real, forks = os.fork, []
def fork():
    forks.append(os.getpid())
    return real()
os.fork = fork
from operator_sim.cli import main
try:
    main(sys.argv[1:])
finally:
    sys.stderr.write(f"forks={len(forks)}\\n")
"""


def test_the_cli_forks_its_workers_even_with_a_progress_bar() -> None:
    """The command runs one thread, so it keeps the fast path; tqdm's monitor thread would
    otherwise make it validate in-process."""
    proc = subprocess.run([sys.executable, "-c", _COUNT_FORKS, "validate", "--progress",
                           "--format", "json", "--jobs", "2", str(CASES)],
                          capture_output=True, text=True, timeout=120)
    assert "forks=1" in proc.stderr, proc.stderr  # one child; the process itself is the other
    assert json.loads(proc.stdout)["summary"]["archives"] == len(find_archives([CASES]))
    assert "Traceback" not in proc.stderr


def test_the_forked_worker_cases_pass_in_a_fresh_one_thread_interpreter() -> None:
    """`forked_cases.py` (results in order, worker errors, deaths, no child left behind)
    needs the fork path, which this long-lived, multi-threaded test process no longer takes."""
    here = Path(__file__).resolve()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(here.with_name("forked_cases.py"))],
                          capture_output=True, text=True, timeout=300, cwd=here.parents[2])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout, proc.stdout
