import asyncio
import threading

from operator_sim.store import AsyncStore, SqliteStore, TransactionFilter

from .factories import SIREN, T0, new_acte, open_store


def _assert_distinct_complete(store, count):
    page = store.list(TransactionFilter(siren=SIREN), limit=500)
    assert page.total == count
    assert len({r.id for r in page.items}) == count
    assert len({r.numero_interne for r in page.items}) == count
    for row in page.items:
        assert len(store.journal(row.id)) == 1


async def test_100_concurrent_creations_from_asyncio_tasks_get_100_distinct_rows(tmp_path):
    store = open_store(tmp_path)
    astore = AsyncStore(store)
    try:
        async def submit(i):
            new = await asyncio.to_thread(new_acte, store, f"A{i}")
            return await astore.create_transaction(new, at=T0, actor=f"task{i}")

        rows = await asyncio.gather(*(submit(i) for i in range(100)))
        assert len({r.id for r in rows}) == 100
        assert {r.id for r in rows} == {r.id for r in (await astore.list(limit=500)).items}
        _assert_distinct_complete(store, 100)
    finally:
        astore.close()
        store.close()


def test_8_threads_creating_concurrently_get_distinct_rows(tmp_path):
    store = open_store(tmp_path)
    errors, ids = [], []
    start = threading.Barrier(8)

    def worker(n):
        try:
            start.wait()
            for i in range(25):
                row = store.create_transaction(new_acte(store, f"T{n}_{i}"), at=T0, actor=f"t{n}")
                ids.append(store.get(row.id).id)  # read back on this thread's own connection
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids)) == 200
    _assert_distinct_complete(store, 200)
    store.close()


def test_two_store_instances_on_one_file_wait_for_each_other_instead_of_failing(tmp_path):
    first = open_store(tmp_path)
    second = SqliteStore.open(tmp_path)
    errors = []

    def worker(store, prefix):
        try:
            for i in range(30):
                store.create_transaction(new_acte(store, f"{prefix}{i}"), at=T0, actor=prefix)
                store.next_serial("tsa")
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(s, p)) for s, p in ((first, "F"), (second, "G"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_distinct_complete(first, 60)
    assert first.next_serial("tsa") == 61
    first.close()
    second.close()
