"""Request-journal rows cost no commit of their own: they join the next one, or a timer's."""

from __future__ import annotations

import asyncio
import sqlite3

from operator_sim.web import journal

from .simkit import SIREN, act, serve, submit


def journaled(served) -> list[tuple[str, str, int]]:
    """(method, path, status) of the committed journal rows, as another connection sees them."""
    database = served.simulator.store.path
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute("select method, path, status from requests order by id").fetchall()


async def test_a_row_is_committed_shortly_after_its_request_even_when_nothing_follows(served):
    agent = served.enrol(SIREN)
    async with served.agent_session(agent) as http, http.get("/api/v1/transactions") as r:
        assert r.status == 200
    for _ in range(100):
        if journaled(served):
            break
        await asyncio.sleep(journal.FLUSH_AFTER)
    assert journaled(served) == [("GET", "/api/v1/transactions", 200)]


async def test_rows_ride_on_the_next_commit_and_a_clean_stop_commits_the_rest(
        tmp_path, shared_pki_dir, monkeypatch):
    monkeypatch.setattr(journal, "FLUSH_AFTER", 3600)  # no timer: only commits carry rows
    async with serve(tmp_path / "data", shared_pki_dir) as served:
        agent = served.enrol(SIREN)
        async with served.agent_session(agent) as http:
            async with http.get("/api/v1/transactions") as r:
                assert r.status == 200
            await asyncio.sleep(0.2)
            assert journaled(served) == []  # answered, its row still waiting
            status, _ = await submit(http, act("BATCH_1"))
            assert status == 201
            # The submission's commit carried the earlier row (its own waits for the next
            # commit: the callback outbox's, or the stop's).
            assert journaled(served)[:1] == [("GET", "/api/v1/transactions", 200)]
        database = served.simulator.store.path
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("select method, path, status from requests order by id").fetchall()
    assert rows == [("GET", "/api/v1/transactions", 200), ("POST", "/api/v1/archives", 201)]
