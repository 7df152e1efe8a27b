"""Group commit: writes queued together share one transaction and one COMMIT, each a savepoint."""

import asyncio
import sqlite3
import threading

import pytest

from operator_sim.store.asyncstore import AsyncStore
from operator_sim.store.interface import reads_first

from .factories import open_store


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path) as store:
        yield store


def committed_counters(store):
    """Counters as another connection sees them: only what was committed."""
    with sqlite3.connect(store.path) as connection:
        rows = dict(connection.execute("select name, value from counters"))
    connection.close()
    return rows


def hold_writer(store):
    """Occupy the writer until the returned event is set; jobs queue meanwhile."""
    started, release = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(30)

    held = store.run_on_writer(hold)
    assert started.wait(30)
    return release, held


def set_counter(name, value):
    def write(db):
        db.execute("insert into counters (name, value) values (?, ?)", [name, value])
        return value
    return write


def test_writes_queued_together_share_one_commit_and_return_once_it_is_done(store):
    release, held = hold_writer(store)
    before = store.commits
    futures = [store.submit_write(set_counter(f"w{n}", n)) for n in range(20)]
    seen: dict[int, dict[str, int]] = {}
    answered = threading.Semaphore(0)

    def on_done(n):
        def note(future):  # as each future completes: its row is already committed, for anyone
            seen[n] = committed_counters(store)
            answered.release()
        return note

    for n, future in enumerate(futures):
        future.add_done_callback(on_done(n))
    assert not any(f.done() for f in futures)
    release.set()
    assert [f.result(30) for f in futures] == list(range(20))
    held.result(30)
    assert all(answered.acquire(timeout=30) for _ in futures)
    assert store.commits - before <= 2  # the held job's group, then all twenty together
    assert all(seen[n][f"w{n}"] == n for n in range(20))


def test_a_failing_write_rolls_back_alone_in_its_group(store):
    release, _ = hold_writer(store)

    def failing(db):
        db.execute("insert into counters (name, value) values ('bad', 1)")
        raise RuntimeError("refused")

    first = store.submit_write(set_counter("first", 1))
    bad = store.submit_write(failing)
    last = store.submit_write(set_counter("last", 3))
    release.set()
    assert first.result(30) == 1 and last.result(30) == 3
    with pytest.raises(RuntimeError):
        bad.result(30)
    assert committed_counters(store) == {"first": 1, "last": 3}


def test_a_write_refused_by_sqlite_fails_alone(store):
    release, _ = hold_writer(store)
    good = store.submit_write(set_counter("good", 1))
    twice = [store.submit_write(set_counter("same", n)) for n in (1, 2)]  # unique name
    release.set()
    assert good.result(30) == 1 and twice[0].result(30) == 1
    with pytest.raises(sqlite3.IntegrityError):
        twice[1].result(30)
    assert committed_counters(store) == {"good": 1, "same": 1}


def test_a_lone_write_is_its_own_transaction_without_a_savepoint(store):
    """A savepoint's undo journal lives in memory (temp_store): a large lone write wrapped in
    one grew the heap with the size of the write. Alone, it needs no savepoint; grouped, each
    write keeps its own."""
    statements: list[str] = []
    store.run_write(lambda db: db.conn.set_trace_callback(statements.append))
    try:
        statements.clear()
        store.run_write(set_counter("lone", 1))
        lone = [s.split()[0].upper() for s in statements]
        assert "SAVEPOINT" not in lone and lone.count("COMMIT") == 1, lone
        statements.clear()
        release, held = hold_writer(store)
        futures = [store.submit_write(set_counter(f"g{i}", i)) for i in range(3)]
        release.set()
        held.result(30)
        for future in futures:
            future.result(30)
        words = [s.split()[0].upper() for s in statements]
        grouped = words[len(words) - 1 - words[::-1].index("BEGIN"):]  # the last transaction
        assert grouped.count("SAVEPOINT") >= 3 and grouped.count("COMMIT") == 1, words
    finally:
        store.run_write(lambda db: db.conn.set_trace_callback(None))
    assert committed_counters(store) == {"lone": 1, "g0": 0, "g1": 1, "g2": 2}


def counting_wakes(loop):
    """Count the calls that wake `loop` from another thread (`call_soon_threadsafe`)."""
    wakes: list[object] = []
    original = loop.call_soon_threadsafe

    def counted(callback, *args, **kwargs):
        wakes.append(callback)
        return original(callback, *args, **kwargs)

    loop.call_soon_threadsafe = counted
    return wakes


async def test_coroutines_answered_by_one_group_wake_the_loop_once_after_its_commit(store):
    """Twenty coroutines' writes in one group: one wake-up of the loop for all their answers
    (not one per job), and each coroutine resumes with its row already committed."""
    front = AsyncStore(store)
    release, held = hold_writer(store)
    wakes = counting_wakes(asyncio.get_running_loop())

    async def one(n):
        value = await front.write(set_counter(f"a{n}", n))
        return value, committed_counters(store)

    tasks = [asyncio.ensure_future(one(n)) for n in range(20)]
    await asyncio.sleep(0.05)  # every task is waiting on the writer
    assert not any(t.done() for t in tasks)
    release.set()
    answers = await asyncio.gather(*tasks)
    held.result(30)
    assert [value for value, _ in answers] == list(range(20))
    assert all(seen[f"a{n}"] == n for n, (_, seen) in enumerate(answers))
    assert len(wakes) == 1, wakes
    front.close()


async def test_a_coroutine_whose_write_fails_gets_its_error_and_the_group_is_kept(store):
    front = AsyncStore(store)
    release, _ = hold_writer(store)

    def failing(db):
        db.execute("insert into counters (name, value) values ('bad', 1)")
        raise RuntimeError("refused")

    first = asyncio.ensure_future(front.write(set_counter("first", 1)))
    bad = asyncio.ensure_future(front.write(failing))
    last = asyncio.ensure_future(front.write(set_counter("last", 3)))
    await asyncio.sleep(0.05)
    release.set()
    assert await first == 1 and await last == 3
    with pytest.raises(RuntimeError, match="refused"):
        await bad
    assert committed_counters(store) == {"first": 1, "last": 3}
    front.close()


async def test_a_coroutine_cancelled_before_its_write_runs_drops_the_write(store):
    front = AsyncStore(store)
    release, _ = hold_writer(store)
    cancelled = asyncio.ensure_future(front.write(set_counter("cancelled", 1)))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    await asyncio.sleep(0.05)
    release.set()
    assert await front.write(set_counter("after", 2)) == 2
    assert cancelled.cancelled()
    assert committed_counters(store) == {"after": 2}
    front.close()


@reads_first
def read_counter(store, name):
    """A step that only reads (marked so): the counter as the writer sees it."""
    return store.run_read(lambda db: db.execute("select value from counters where name = ?",
                                                [name]).fetchone())


async def test_reads_alone_on_the_writer_open_no_transaction_and_leave_deferred_writes(store):
    """A group of `reads_first` steps alone commits nothing: the deferred writes waiting stay
    queued (no fsync for them) until the next write, which carries them."""
    front = AsyncStore(store)
    store.defer_write(set_counter("deferred", 7))
    before = store.commits
    assert await front.call(read_counter, "deferred") is None
    assert await front.reserve_serial("serial") == 1
    assert store.commits == before and store.has_deferred
    assert committed_counters(store) == {}
    assert await front.write(set_counter("written", 1)) == 1
    assert committed_counters(store) == {"deferred": 7, "serial": 1, "written": 1}
    front.close()


async def test_a_read_step_that_writes_commits_before_it_returns(store):
    """A `reads_first` step may still write: opening its group, its write is its own
    transaction, committed before its caller is answered."""
    front = AsyncStore(store)

    @reads_first
    def register(store):
        store.run_write(set_counter("registered", 1))
        return committed_counters(store)

    assert (await front.call(register))["registered"] == 1
    front.close()


async def test_a_read_step_after_a_write_in_its_group_sees_that_write(store):
    """Behind a write in the same group, a `reads_first` step runs in the group's transaction,
    in order: it reads what the write before it wrote."""
    front = AsyncStore(store)
    release, _ = hold_writer(store)
    write = asyncio.ensure_future(front.write(set_counter("first", 5)))
    read = asyncio.ensure_future(front.call(read_counter, "first"))
    await asyncio.sleep(0.05)
    release.set()
    assert await write == 5 and await read == (5,)
    front.close()
