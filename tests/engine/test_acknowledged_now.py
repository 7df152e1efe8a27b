"""An act acknowledged at once is one step on the store's writer: its SIREN's lock orders the
steps, it does not wait for their commits; a duplicate or a changed registration found by
that step leaves nothing behind and is answered by the checked path."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import re
import tarfile
from typing import Any

import pytest

from operator_sim.engine import intake
from operator_sim.engine.intake import Engine, RequestRefused
from operator_sim.errors import Kind
from operator_sim.protocol.codes import TransactionStatus as S
from operator_sim.store import AsyncStore, Collectivite, SqliteStore
from operator_sim.store.integrity import BLOB_COLUMNS, check_store
from operator_sim.testing import corpus

from .test_intake import identity
from .test_policies import SIREN, receipting_engine  # noqa: F401

ACT_STEPS = {"_record_answered", "create_and_answer"}
"""The writer steps that store an act and its answer (the one-trip and the checked path)."""


class GatedStore(AsyncStore):
    """Holds the answers of the steps storing an act until `expected` were queued (or five
    seconds went by): they can all be queued only if no submission waits for another's commit
    before queuing its own."""

    def __init__(self, store: SqliteStore, expected: int) -> None:
        super().__init__(store)
        self.expected = expected
        self.queued_before_opening = 0
        self._open = asyncio.Event()

    def queue(self, fn: Any, /, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        inner = super().queue(fn, *args, **kwargs)
        if getattr(fn, "__name__", "") not in ACT_STEPS:
            return inner
        if not self._open.is_set():
            self.queued_before_opening += 1
            if self.queued_before_opening >= self.expected:
                self._open.set()

        async def held() -> Any:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), 5)
            self._open.set()
            return await inner

        return asyncio.ensure_future(held())


def archive_bytes(numero: str, tmp_path) -> tuple[str, bytes]:
    built = corpus.build(corpus.base_request(numero_interne=numero))
    folder = tmp_path / numero
    folder.mkdir(exist_ok=True)
    return built.name, built.write(folder).read_bytes()


async def submit(engine: Engine, numero: str, tmp_path):
    name, data = archive_bytes(numero, tmp_path)
    return await engine.submit_archive(identity(SIREN), name, data)


def unnamed_small_blobs(store: SqliteStore) -> set[str]:
    """Small blobs no row names: bytes nobody can read back or clean up."""
    def read(db) -> set[str]:
        named: set[str] = set()
        for table, column in BLOB_COLUMNS:
            named |= {r[0] for r in db.execute(
                f"select {column} from {table} where {column} is not null").fetchall()}
        return {r[0] for r in db.execute("select sha256 from small_blobs").fetchall()} - named
    return store.run_read(read)


async def test_acts_of_one_siren_are_queued_without_waiting_for_each_others_commit(
        receipting_engine, tmp_path):  # noqa: F811
    engine, _, _, store = receipting_engine
    assert (await submit(engine, "GATE_000", tmp_path)).code == "1-2"  # the worker knows all
    gated = GatedStore(store, expected=6)
    engine.store = gated
    outcomes = await asyncio.gather(*(submit(engine, f"GATE_{i:03}", tmp_path)
                                      for i in range(1, 7)))
    assert [o.code for o in outcomes] == ["1-2"] * 6
    assert gated.queued_before_opening == 6
    assert len({o.transaction.id for o in outcomes}) == 6
    for outcome in outcomes:
        journal = await engine.store.journal(outcome.transaction.id)
        assert [e.to_status for e in journal] == [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION,
                                                  S.TRANSMIS, S.ACQUITTEMENT_RECU]


async def test_duplicates_in_flight_get_one_ar_the_others_a_doublon_and_leave_no_stray_blob(
        receipting_engine, tmp_path):  # noqa: F811
    engine, _, _, store = receipting_engine
    name, data = archive_bytes("TWIN_001", tmp_path)
    outcomes = await asyncio.gather(*(engine.submit_archive(identity(SIREN), name, data)
                                      for _ in range(5)))
    assert sorted(o.code for o in outcomes) == ["1-2"] + ["1-3"] * 4
    assert all(o.anomalie[0] == "011" for o in outcomes if o.code == "1-3")
    answers = [m.file_name for o in outcomes for m in await engine.store.messages(o.transaction.id)
               if m.code in ("1-2", "1-3")]
    serials = [int(re.search(r"_(\d+)\.xml$", f).group(1)) for f in answers]
    assert sorted(serials) == list(range(1, 6))  # one serial each, none skipped
    assert unnamed_small_blobs(store) == set()
    assert check_store(store.path.parent).sound


class Reregistering(AsyncStore):
    """Changes the collectivité's registration (its département) just before the act's step
    is queued, as an administrator could between the sender's check and that step."""

    def queue(self, fn: Any, /, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        if getattr(fn, "__name__", "") == "_record_answered":
            commune = corpus.COMMUNE
            self.store.add_collectivite(Collectivite(commune.siren, "075",
                                                     str(commune.arrondissement),
                                                     commune.nature, "Commune"))
        return super().queue(fn, *args, **kwargs)


async def test_a_registration_changed_before_the_step_refuses_the_envelope_once_and_stores_no_act(
        receipting_engine, tmp_path):  # noqa: F811
    engine, _, _, store = receipting_engine
    engine.store = Reregistering(store)
    outcome = await submit(engine, "IDCL_001", tmp_path)
    assert outcome.code == "ANO" and outcome.anomalie is not None
    assert outcome.anomalie[0] == "005" and "IDCL_MISMATCH" in outcome.anomalie[1]
    assert [f.code for f in outcome.report.errors].count("IDCL_MISMATCH") == 1
    assert (await engine.store.list()).total == 1  # the refused envelope's transaction only
    assert outcome.transaction.status is S.ERREUR
    assert unnamed_small_blobs(store) == set()


class Recording(AsyncStore):
    """Notes how many examinations the pool was sent when the sender's read is queued."""

    def __init__(self, store: SqliteStore, pool: Any) -> None:
        super().__init__(store)
        self.pool = pool
        self.sent_when_read: list[int] = []

    def queue(self, fn: Any, /, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        if getattr(fn, "__name__", "") == "_sender":
            self.sent_when_read.append(len(self.pool.sent))
        return super().queue(fn, *args, **kwargs)


async def test_the_sender_is_read_while_the_worker_examines_the_archive(
        receipting_engine, tmp_path):  # noqa: F811
    engine, pool, _, store = receipting_engine
    assert (await submit(engine, "AHEAD_000", tmp_path)).code == "1-2"  # the worker knows all
    recording = Recording(store, pool)
    engine.store = recording
    before = len(pool.sent)
    assert (await submit(engine, "AHEAD_001", tmp_path)).code == "1-2"
    assert recording.sent_when_read == [before]  # read once, queued before the examination


async def test_a_small_archive_is_not_unpacked_again_by_the_service(
        receipting_engine, tmp_path, monkeypatch):  # noqa: F811
    engine, _, _, store = receipting_engine
    unpacked: list[object] = []
    reader = intake.read_archive

    def counted(*args: Any, **kwargs: Any) -> Any:
        unpacked.append(args[0])
        return reader(*args, **kwargs)

    monkeypatch.setattr(intake, "read_archive", counted)  # this process only: not the worker
    name, data = archive_bytes("ONCE_001", tmp_path)
    outcome = await engine.submit_archive(identity(SIREN), name, data)
    assert outcome.code == "1-2" and unpacked == []
    documents = await engine.store.documents(outcome.transaction.id)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for document in documents:
            member = archive.extractfile(document.file_name)
            assert member is not None and store.blobs.read(document.sha256) == member.read()
    # An archive given as a file (a large upload's): the worker sends no bytes back, the
    # service reads the members from the archive.
    name, data = archive_bytes("ONCE_002", tmp_path)
    path = tmp_path / "upload" / name
    path.parent.mkdir()
    path.write_bytes(data)
    outcome = await engine.submit_archive(identity(SIREN), name, path)
    assert outcome.code == "1-2" and unpacked == [path]


async def test_a_full_day_refuses_the_step_with_a_429_and_it_leaves_nothing(
        receipting_engine, tmp_path):  # noqa: F811
    engine, _, _, store = receipting_engine
    assert (await submit(engine, "FULL_001", tmp_path)).code == "1-2"
    day = f"{engine.clock.today():%Y%m%d}"
    store.run_write(lambda db: db.execute(
        "update counters set value = 9999 where name = ?", [f"return-envelope-{SIREN}-{day}"]))
    before = store.list().total
    with pytest.raises(RequestRefused) as full:
        await submit(engine, "FULL_002", tmp_path)
    assert full.value.kind is Kind.EXHAUSTED and full.value.code == "DAILY_SERIALS_EXHAUSTED"
    assert store.list().total == before
    assert unnamed_small_blobs(store) == set()


async def test_the_sender_is_judged_from_the_envelope_not_from_the_archives_name(
        receipting_engine, tmp_path):  # noqa: F811
    """The read started from the name's SIREN serves only when the envelope's IDCL names the
    same: here the name says the commune holding a convention, the envelope another SIREN
    without one, which the strict profile refuses (005)."""
    engine, _, _, _ = receipting_engine
    other = dataclasses.replace(corpus.COMMUNE, siren="253400014")
    built = corpus.build(corpus.base_request(numero_interne="NAME_001"), collectivite=other)
    folder = tmp_path / "name"
    folder.mkdir()
    data = built.write(folder).read_bytes()
    name = built.name.replace("253400014", SIREN)
    assert name != built.name
    outcome = await engine.submit_archive(identity("253400014", SIREN), name, data)
    assert outcome.code == "ANO" and outcome.anomalie is not None
    assert outcome.anomalie[0] == "005", outcome.anomalie
