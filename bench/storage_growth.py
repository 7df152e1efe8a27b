"""Storage growth: query latency and memory as the store grows from 10 K to 1 M transactions.

Rows go in through the store API (`create_transaction`, many per `run_write` commit), each
transaction with its 1-1 and 1-2 messages, two documents and its journal event, spread over
1,000 SIRENs of which a busy one (a city among villages) takes one act in twenty; one "probe"
SIREN keeps a fixed 500 acts. At each checkpoint (10 K, 30 K, 100 K, 300 K, 1 M) the reads the
API, the admin list and the dashboard make are timed: get by id with its journal and messages,
an agent's list (its SIREN, first page, with the total), the same filtered by status and
dates, the admin's unfiltered list, the admin's acts in one status and in a past window of
250 seconds (250 acts at every size), and the busy SIREN's list (some 500 acts at 10 K, 50,000
at 1 M: its first page is full at every size, so no checkpoint returns more rows than the 10 K
one). The baseline of each figure is the same query on a 10 K twin store
measured at the same moment, its calls alternated with the big store's (so a burst of
load from other jobs weighs on both alike); the target, as the issue says
"query latency must stay flat", is ≤ 2× the 10 K latency for every read, and RSS within 64 MiB
of the 10 K one.

    python bench/storage_growth.py [--size 1000000] [--json]     # --size 100000 for CI
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report, _service
from operator_sim.protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
from operator_sim.store import (
    Collectivite,
    NewDocument,
    NewMessage,
    NewTransaction,
    SqliteStore,
    TransactionFilter,
)

MiB = 2**20
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
PROBE_ACTS = 500
BULK_SIRENS = 1000
CHECKPOINTS = (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000)
FLAT = 2.0  # largest / 10 K latency still called flat
RSS_SLACK = 64 * MiB


class Grower:
    """Adds realistic transactions in batches, one commit per batch."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.count = 0
        self.probe = _service.siren(0)
        self.sirens = [_service.siren(i) for i in range(1, BULK_SIRENS + 1)]
        for siren in [self.probe, *self.sirens]:
            store.add_collectivite(Collectivite(siren, "034", "3", "31", f"Commune {siren}"))
        put = store.blobs.put
        self.blobs = [put(f"blob {i}".encode()) for i in range(6)]

    def _new(self, i: int, siren: str) -> NewTransaction:
        numero = f"G{i:08d}"
        archive, xml11, xml12, sig, token, pdf = self.blobs
        refused = i % 20 == 7  # one act in twenty refused, as in life
        return NewTransaction(
            type=TransactionType.ACTE,
            status=TransactionStatus.ERREUR if refused else TransactionStatus.ACQUITTEMENT_RECU,
            siren=siren, numero_interne=numero, nature=NatureActe.DE, matiere="5.2",
            objet=f"Délibération {numero}", archive_name=f"SLO-EACT--{siren}--20250106-{i}.tar.gz",
            archive_sha256=archive, id_acte=None if refused else f"034-{siren}-20250106-{numero}-DE",
            messages=(NewMessage("1-1", Sender.CL, f"034-{siren}----1-1_{i}.xml", xml11,
                                 timestamp_token_sha256=token),
                      NewMessage("1-3" if refused else "1-2", Sender.PREF,
                                 f"034-{siren}----1-2_{i}.xml", xml12, sig, token)),
            documents=(NewDocument("main", 0, f"99_DE-034-{siren}-{i}-1.pdf", pdf,
                                   "application/pdf", 4096),
                       NewDocument("annexe", 1, f"99_DE-034-{siren}-{i}-2.pdf", pdf,
                                   "application/pdf", 2048)))

    def add(self, n: int, *, siren: str | None = None, batch: int = 2000) -> None:
        store = self.store
        while n > 0:
            size = min(batch, n)
            first = self.count

            def write(_db: object, first: int = first, size: int = size) -> None:
                for i in range(first, first + size):
                    owner = siren or self.sirens[0 if i % 20 == 0 else i % BULK_SIRENS]
                    store.create_transaction(self._new(i, owner), at=T0 + timedelta(seconds=i),
                                             actor="bench")

            store.run_write(write)
            self.count += size
            n -= size


def timed(fns: tuple[Callable[[], object], ...], repeat: int) -> list[tuple[float, float]]:
    """(median, p99) milliseconds of `repeat` calls of each of `fns`, their calls alternated
    so that a burst of load from elsewhere on the machine weighs on all of them alike."""
    for fn in fns:
        fn()  # warm the page cache for this query shape
    spent: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, spent, strict=True):
            start = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - start))
    return [(_report.percentile(t, 50), _report.percentile(t, 99)) for t in spent]


def queries(store: SqliteStore, grower: Grower, rng: random.Random) -> dict[str, Callable[[], object]]:
    probe = frozenset({grower.probe})
    window = (T0, T0 + timedelta(seconds=PROBE_ACTS // 2))
    past = (T0 + timedelta(seconds=5000), T0 + timedelta(seconds=5000 + PROBE_ACTS // 2))

    def get() -> object:
        tid = rng.randrange(1, grower.count + 1)
        return store.get(tid), store.journal(tid), store.messages(tid)

    return {
        "get (row + journal + messages)": get,
        "agent list (own SIREN, page 1 + total)": lambda: store.list(
            TransactionFilter(sirens=probe), limit=50),
        "agent filter (status + dates)": lambda: store.list(
            TransactionFilter(sirens=probe, status=TransactionStatus.ACQUITTEMENT_RECU,
                              created_from=window[0], created_to=window[1]), limit=50),
        "admin list (all, page 1 + total)": lambda: store.list(limit=50),
        "admin filter (acts in error, page 1 + total)": lambda: store.list(
            TransactionFilter(type=TransactionType.ACTE, status=TransactionStatus.ERREUR), limit=50),
        "admin filter (acts of a past window)": lambda: store.list(
            TransactionFilter(type=TransactionType.ACTE, created_from=past[0], created_to=past[1]),
            limit=50),
        "busy SIREN list (page 1 + total)": lambda: store.list(
            TransactionFilter(sirens=frozenset({grower.sirens[0]})), limit=50),
    }


def run(*, size: int = 1_000_000, repeat: int = 200, log: Callable[..., None] = print,
        folder: Path | None = None) -> tuple[list[_report.Row], list[dict]]:
    rng = random.Random(7)
    points = [c for c in CHECKPOINTS if c < size] + [size]
    table: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-", dir=folder) as tmp:
        # The 10 K twin: the same rows as the growing store at its first checkpoint, queried
        # alongside it at every checkpoint, so each ratio compares two measurements taken
        # at the same moment rather than one from minutes earlier under another load.
        twin_store = SqliteStore.open(Path(tmp) / "twin")
        store = SqliteStore.open(Path(tmp))
        try:
            twin = Grower(twin_store)
            twin.add(PROBE_ACTS, siren=twin.probe)
            twin.add(points[0] - twin.count)
            twin_queries = queries(twin_store, twin, random.Random(7))
            grower = Grower(store)
            grower.add(PROBE_ACTS, siren=grower.probe)
            started = time.perf_counter()
            for point in points:
                grower.add(point - grower.count)
                inserted = time.perf_counter() - started
                measured = {name: timed((fn, twin_queries[name]), repeat)
                            for name, fn in queries(store, grower, rng).items()}
                entry = {"transactions": grower.count, "rss_mib": _service.rss(os.getpid()) / MiB,
                         "database_mib": sum(p.stat().st_size for p in Path(tmp).glob("*.sqlite3*"))
                         / MiB, "insert_rate": grower.count / inserted,
                         "ms": {k: v[0][0] for k, v in measured.items()},
                         "p99_ms": {k: v[0][1] for k, v in measured.items()},
                         "twin_ms": {k: v[1][0] for k, v in measured.items()}}
                table.append(entry)
                log(f"{grower.count:>9,} rows  RSS {entry['rss_mib']:6.1f} MiB  db "
                    f"{entry['database_mib']:7.1f} MiB  insert {entry['insert_rate']:6.0f}/s  "
                    + "  ".join(f"{k.split(' (')[0]} {v[0][0]:.3f} ({v[1][0]:.3f} @ 10 K)"
                                for k, v in measured.items()))
        finally:
            store.close()
            twin_store.close()
    first, last = table[0], table[-1]
    label = f"{last['transactions'] // 1000:,} K"
    rows = []
    for name in first["ms"]:
        base = last["twin_ms"][name]
        ratio = last["ms"][name] / base if base else None
        rows.append(_report.Row(
            f"storage @ {label}: {name}", last["ms"][name], "ms", baseline=base,
            baseline_label="same query, 10 K twin, same moment", ratio=ratio,
            target=f"flat (≤ {FLAT:.0f}×)",
            passed=ratio is not None and ratio <= FLAT,
            detail={"p99_ms": last["p99_ms"][name]}))
    rows.append(_report.Row(
        f"storage @ {label}: bench process RSS", last["rss_mib"], "MiB",
        baseline=first["rss_mib"], baseline_label="RSS @ 10 K",
        target=f"≤ +{RSS_SLACK // MiB} MiB",
        passed=(last["rss_mib"] - first["rss_mib"]) * MiB <= RSS_SLACK,
        detail={"insert_rate_per_s": round(last["insert_rate"]), "database_mib":
                round(last["database_mib"], 1), "checkpoints": table}))
    return rows, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="final transaction count")
    parser.add_argument("--repeat", type=int, default=200, help="calls per query and checkpoint")
    parser.add_argument("--dir", type=Path, help="where the temporary database goes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows, _ = run(size=args.size, repeat=args.repeat, folder=args.dir,
                  log=(lambda *a: print(*a, file=sys.stderr)) if args.json else print)
    return _report.emit(rows, json_output=args.json, title="storage growth")


if __name__ == "__main__":
    sys.exit(main())
