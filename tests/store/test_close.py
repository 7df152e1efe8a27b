"""Closing the store while other threads still hold their connections.

CPython's sqlite3 crashes the whole interpreter (SIGSEGV) when one thread closes a connection
another thread is running a query on, so `close()` must leave a live thread's connection to
that thread, and a simulator must stop its reader threads before closing the store.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from operator_sim.config import Config
from operator_sim.simulator import build_simulator
from operator_sim.store import SqliteStore, StoreError


def test_close_leaves_a_live_threads_connection_usable_and_refuses_new_reads(tmp_path):
    store = SqliteStore.open(tmp_path / "data")
    holding, closed, finished = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def reader() -> None:
        db = store.run_read(lambda db: db)  # this thread's connection, as a reader gets it
        holding.set()
        closed.wait(10)
        try:  # a query still in flight when the store closed: it must run to its end
            seen["count"] = db.execute("select count(*) from transactions").fetchone()[0]
        except Exception as error:
            seen["error"] = error
        try:
            store.run_read(lambda db: db.execute("select 1").fetchone())
        except StoreError as error:
            seen["after"] = error
        finished.set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert holding.wait(10)
    store.close()
    closed.set()
    assert finished.wait(10)
    thread.join()
    assert seen.get("error") is None and seen["count"] == 0
    assert isinstance(seen["after"], StoreError)


def test_closing_a_simulator_stops_its_reader_threads(tmp_path, shared_pki_dir):
    def readers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("store-reader")}

    before = readers()
    config = Config(data_dir=tmp_path / "data", pki_dir=shared_pki_dir, workers=1,
                    api_port=0, admin_port=0)
    simulator = build_simulator(config, processes=False)
    try:
        async def read_a_few() -> None:  # start the pool's threads, as requests would
            await asyncio.gather(*(simulator.engine.store.read(lambda db: db.execute("select 1").fetchone())
                                   for _ in range(8)))

        asyncio.run(read_a_few())
        assert readers() - before
    finally:
        simulator.close()
    assert not readers() - before


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
