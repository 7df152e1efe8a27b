"""Acknowledged means stored: `operator-sim serve` SIGKILLed three times under concurrent load.

Runs the harness of `bench/crash.py` at CI size (300 submissions by three agents, 16 in
flight, three kills at random points, a few clients giving up on their answers before each,
restarts on the same folders), then shows its checks bite by breaking promises by hand.
Every kill lands with requests in flight, however fast the server drains the queue.
"""

from __future__ import annotations

import sqlite3

import pytest

from bench import crash
from operator_sim.store.database import DATABASE_NAME
from tests.store.factories import remove_blob

pytestmark = pytest.mark.slow

COUNT = 300


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    run = crash.run_crash(root, count=COUNT, kills=3, concurrency=16, agents=3, seed=20250310,
                          log=lambda *a: None)
    return root, run


def test_every_acknowledged_submission_survives_repeated_sigkill(crashed):
    _, run = crashed
    assert run.kills == 3
    assert run.problems == []
    # Each kill cut requests off mid-flight; every one was sent again and answered.
    assert all(point["in_flight"] > 0 for point in run.kill_points)
    assert run.retried >= 3
    assert not run.in_doubt
    # Every envelope ends acknowledged exactly once: by its own 201, or (cut off after its
    # commit) by the DOUBLON the retry got.
    assert len(run.acknowledged) + len(run.taken_before_kill) == COUNT
    # Clients that gave up before the first kill left commits nobody heard about: resent,
    # they are refused as duplicates, and nothing is stored twice.
    assert run.taken_before_kill
    assert set(run.answers) <= {"201 1-2", "201 1-2 (retry)", "201 1-3 011 (retry)",
                                "no answer"}
    assert run.checks == 3 + 1 + 1  # after each kill, after the last round, at the end
    # Only attempts cut off before their commit leave blobs no row names: at most a token, an
    # answer and its signature each (the archive and its members are the retry's own bytes).
    assert run.leftovers["unreferenced blobs"] <= 3 * run.retried


def test_the_checks_catch_lost_half_written_and_corrupt_transactions(crashed):
    root, run = crashed
    data = root / "data"
    acks = sorted(run.acknowledged.values(), key=lambda a: a.transaction_id)
    lost, half, corrupt = acks[0], acks[1], acks[2]
    with sqlite3.connect(data / DATABASE_NAME) as conn:
        conn.execute("update transactions set status = 3 where id = ?", [half.transaction_id])
        signature = conn.execute("select signature_sha256 from messages where transaction_id = ?"
                                 " and code = '1-2'", [corrupt.transaction_id]).fetchone()[0]
    remove_blob(data, signature)
    probe = crash.CrashRun(acknowledged={
        "lost": crash.Ack(lost.submission, 10**9, "1-2", lost.id_acte, False),
        half.submission.numero_interne: half})

    crash.check_store(probe, data)

    found = "\n".join(probe.problems)
    assert f"acknowledged as transaction {10**9}, missing after the kill" in found
    assert f"transaction {half.transaction_id}: half-walked act at status 3" in found
    assert f"transaction {half.transaction_id}: status 3 but journal ends at 4" in found
    assert f"blob {signature} missing or corrupt" in found
