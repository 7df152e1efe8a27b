"""Acknowledged means synced: each 201 of `operator-sim serve` leaves after the fsyncs of what it
acknowledges (the harness of `bench/power_loss.py`: strace's record of the service's writes,
renames and syncs replayed), then the replay is shown to catch a sync taken away."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench import power_loss

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")]

COUNT = 8


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    root = tmp_path_factory.mktemp("power")
    rows, verdict = power_loss.run(count=COUNT, root=root)
    return root, rows, verdict


def test_every_answer_leaves_after_the_syncs_of_what_it_acknowledges(traced):
    _, rows, verdict = traced
    assert verdict.problems == []
    assert verdict.answers == COUNT
    assert rows[0].passed is True
    # At least its commit's: a small archive and its blobs are rows of that commit, with no
    # sync of their own (larger ones add their files' and folders').
    assert min(verdict.syncs_between_answers) >= 1


def _replay(root: Path, keep) -> power_loss.Verdict:
    lines = [line for line in (root / "strace.log").read_text().splitlines() if keep(line)]
    port = next(int(urlsplit("https://" + line.split("TCP:[", 1)[1].split("->")[0]).port)
                for line in lines if "TCP:[" in line)
    data = (root / "service" / "data").resolve()
    numeros = [f"W{i:07d}" for i in range(2, 2 + COUNT)]  # after the two warm-up envelopes
    existing = (root / power_loss.EXISTING).read_text().splitlines()
    return power_loss.replay(lines, data, port, numeros, existing=existing)


def _synced_path(line: str) -> Path | None:
    match = re.search(r" f(?:data)?sync\(\d+<([^>]*)>", line)
    return Path(match.group(1)) if match else None


def test_the_replay_catches_each_missing_sync(traced):
    root = traced[0]
    assert _replay(root, lambda line: True).problems == []

    no_log_sync = _replay(root, lambda line: not ("fdatasync(" in line and "-wal>" in line))
    assert len(no_log_sync.problems) == COUNT
    assert "was not synced before the answer" in no_log_sync.problems[0]

    # Files and folders the service syncs (whichever it keeps outside SQLite): each one
    # taken away is caught.
    lines = (root / "strace.log").read_text().splitlines()
    data = (root / "service" / "data").resolve()
    synced = {p for p in map(_synced_path, lines) if p and p.is_relative_to(data)
              and not p.name.endswith("-wal")}
    folders = {p for p in synced if p.is_dir()}
    for kind, chosen, found in (("file", synced - folders, "never synced"),
                                ("folder", folders, "folder never synced")):
        if not chosen:
            continue
        verdict = _replay(root, lambda line, chosen=chosen: _synced_path(line) not in chosen)
        assert verdict.problems, f"no {kind} sync missed"
        assert found in verdict.problems[0]

    other_port = power_loss.replay(lines, data, 1, [])
    assert other_port.answers == 0
