"""Forked workers of a large batch: results in order, errors and deaths reported, nothing left.

Not collected by a plain pytest run (the name does not start with test_): a batch forks only in
a one-thread process, which a long test session is not (stores and event loops of earlier tests
leave threads behind), so `test_batch_fork_safety.py` runs this module in a fresh interpreter.
"""

import os
from pathlib import Path

import pytest

from operator_sim.validation import batch
from operator_sim.validation.batch import PARALLEL_THRESHOLD, find_archives, validate_many

from .conftest import FIXTURES


@pytest.fixture(autouse=True)
def forking() -> None:
    assert batch._fork_is_safe(), "these cases need a one-thread process: run them alone"


@pytest.fixture(scope="module")
def archives() -> list[Path]:
    found = find_archives([FIXTURES / "cases"])
    assert len(found) >= PARALLEL_THRESHOLD  # large enough to be shared out
    return found


def test_parallel_batch_gives_the_serial_reports_in_order(archives, policy) -> None:
    serial_seen, parallel_seen = [], []
    serial = validate_many(archives, policy, jobs=1, on_done=serial_seen.append)
    parallel = validate_many(archives, policy, jobs=3, on_done=parallel_seen.append)
    assert parallel == serial == serial_seen
    assert parallel_seen == parallel  # every report handed on once, in archive order
    assert [r.source for r in parallel] == [str(p) for p in archives]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _no_child_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _in_children_only(monkeypatch: pytest.MonkeyPatch, act) -> None:  # type: ignore[no-untyped-def]
    """Make workers (not the parent) `act` on their first archive; the parent dawdles so that
    the children get chunks."""
    parent, real = os.getpid(), batch.validate_file

    def validate_file(path, policy):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            act(path)
        else:
            import time

            time.sleep(0.02)
        return real(path, policy)

    monkeypatch.setattr(batch, "validate_file", validate_file)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files in /proc")
def test_a_worker_exception_is_raised_in_the_parent_with_its_traceback(
        archives, policy, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path: Path) -> None:
        raise ValueError(f"boom on {path.name}")

    _in_children_only(monkeypatch, fail)
    before = _open_fds()
    with pytest.raises(ValueError, match="boom on") as caught:
        validate_many(archives, policy, jobs=2)
    assert "in a validation worker" in str(caught.value.__cause__)
    assert "fail" in str(caught.value.__cause__)  # the worker's own traceback
    assert _open_fds() == before and _no_child_left()


def test_an_exception_that_does_not_pickle_still_reaches_the_parent(
        archives, policy, monkeypatch: pytest.MonkeyPatch) -> None:
    class Local(Exception):  # a local class cannot be pickled
        pass

    def fail(path: Path) -> None:
        raise Local("not picklable")

    _in_children_only(monkeypatch, fail)
    with pytest.raises(RuntimeError, match="not picklable"):
        validate_many(archives, policy, jobs=2)
    assert _no_child_left()


def test_a_worker_that_dies_is_an_error_not_a_hang_nor_a_zombie(
        archives, policy, monkeypatch: pytest.MonkeyPatch) -> None:
    _in_children_only(monkeypatch, lambda path: os._exit(7))
    with pytest.raises(RuntimeError, match="stopped before sending its reports"):
        validate_many(archives, policy, jobs=3)
    assert _no_child_left()


def test_a_failure_in_the_parent_stops_the_workers(archives, policy,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    parent, real = os.getpid(), batch.validate_file

    def validate_file(path, policy):  # type: ignore[no-untyped-def]
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return real(path, policy)

    monkeypatch.setattr(batch, "validate_file", validate_file)
    with pytest.raises(KeyboardInterrupt):
        validate_many(archives, policy, jobs=2)
    assert _no_child_left()
