"""Batches: archive discovery, and the forked workers that share a large batch."""

import io
import os
from pathlib import Path

import pytest

from operator_sim.protocol.envelope import Piece
from operator_sim.validation import batch, corpus
from operator_sim.validation.batch import PARALLEL_THRESHOLD, find_archives, validate_many
from operator_sim.validation.validator import validate_archive

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def archives() -> list[Path]:
    found = find_archives([FIXTURES / "cases"])
    assert len(found) >= PARALLEL_THRESHOLD  # large enough to be shared out
    return found


def test_find_archives_lists_what_rglob_lists_in_the_same_order(tmp_path: Path) -> None:
    def touch(relative: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return path

    for relative in ("a/2.tar.gz", "a/10.tar.gz", "B/x.tar.gz", ".hidden.tar.gz",
                     "deep/er/z.tar.gz", "dir.tar.gz/inner.tar.gz", "UPPER.TAR.GZ", "notes.txt",
                     "a/b/c.tar.gz", "a-b/d.tar.gz"):
        touch(relative)
    (tmp_path / "to-file.tar.gz").symlink_to(tmp_path / "a" / "2.tar.gz")
    (tmp_path / "broken.tar.gz").symlink_to(tmp_path / "nowhere")
    (tmp_path / "to-folder").symlink_to(tmp_path / "a", target_is_directory=True)
    given = tmp_path / "a" / "2.tar.gz"

    def rglob(path: Path) -> list[Path]:
        return sorted(p for p in path.rglob("*.tar.gz") if p.is_file())

    found = find_archives([tmp_path, str(given), f"{tmp_path}/", tmp_path / "to-folder"])
    assert found == [*rglob(tmp_path), given, *rglob(tmp_path), *rglob(tmp_path / "to-folder")]
    assert tmp_path / "to-folder" / "2.tar.gz" not in rglob(tmp_path)  # links not entered


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


def test_a_finding_on_the_second_annex_points_at_it(policy) -> None:
    built = corpus.build(corpus.base_request(annexes=(
        Piece(corpus.minimal_pdf("un"), "pdf", "99_DE"),
        Piece(corpus.minimal_png(), "pdf", "99_DE"))))  # a PNG named .pdf
    name, data = corpus._pack(built)
    report = validate_archive(io.BytesIO(data), policy, name=name)
    finding = report.errors[0]
    assert finding.code == "DOCUMENT_CONTENT_MISMATCH"
    assert finding.xpath == "/actes:Acte/actes:Annexes/actes:Annexe[2]/actes:NomFichier"
    assert finding.line and finding.line > 1
