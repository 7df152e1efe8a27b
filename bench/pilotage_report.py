"""Pilotage report: 1,000 collectivités and 1 M stored transactions answer in ≤ 1 s.

Rows go in as the storage bench's do (`storage_growth.Grower`: the store API, each act with
its messages, documents and journal, over 1,000 SIRENs plus a busy one), then every SIREN gets a
pilotage fiche (category, population, contact), three in four a convention, one in ten a few
paper deposits. Timed: the whole report over a period holding every act (store rows read in one
snapshot, then indicators, lists and chart series), as `GET /admin/pilotage` computes it. The
baseline is the same report on a 10 K twin, timed alternately at the same moment.

    python bench/pilotage_report.py [--size 1000000] [--json]     # --size 100000 for CI
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report
from bench.storage_growth import T0, Grower, timed
from operator_sim.pilotage.indicateurs import rapport
from operator_sim.store import NewConvention, SqliteStore
from operator_sim.store.pilotage import (
    Fiche,
    NewDepot,
    add_depots,
    import_collectivites,
    pilotage_rows,
)

TARGET_MS = 1000.0
TWIN = 10_000
CATEGORIES = ("commune",) * 8 + ("epci_fp", "epci")
DU, AU = dt.date(2024, 7, 1), dt.date(2025, 6, 30)  # the Grower's acts are in January 2025


def _fill(store: SqliteStore, size: int, rng: random.Random) -> Grower:
    grower = Grower(store)
    grower.add(size)
    lines = []
    for i, c in enumerate(store.collectivites()):
        lines.append((c, Fiche(c.siren, CATEGORIES[i % len(CATEGORIES)],
                               rng.randrange(100, 120_000), f"Contact {i}",
                               f"mairie{i}@example.org")))
    import_collectivites(store, lines)
    deposits = []
    for i, c in enumerate(store.collectivites()):
        if i % 4:
            store.add_convention(NewConvention(c.siren, dt.date(2023, 1, 1), "SLO"))
        if i % 10 == 0:
            deposits += [NewDepot(DU + dt.timedelta(days=rng.randrange(300)), c.siren,
                                  rng.randrange(1, 7), f"{rng.randrange(1, 10)}.1",
                                  rng.randrange(1, 20)) for _ in range(5)]
    add_depots(store, deposits, at=T0)
    return grower


def report_of(store: SqliteStore) -> dict:
    return store.run_read(lambda db: rapport(pilotage_rows(db, DU, AU), DU, AU, inactivite=90))


def run(*, size: int = 1_000_000, repeat: int = 5, log=print,
        folder: Path | None = None) -> list[_report.Row]:
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="bench-pilotage-", dir=folder) as tmp:
        twin = SqliteStore.open(Path(tmp) / "twin")
        store = SqliteStore.open(Path(tmp) / "big")
        try:
            _fill(twin, TWIN, rng)
            log(f"twin: {TWIN:,} transactions")
            grower = _fill(store, size, rng)
            log(f"store: {grower.count:,} transactions, {len(store.collectivites()):,} "
                "collectivités")
            report = report_of(store)
            counted = sum(c["teletransmis"] for c in report["collectivites"])
            (ours, p99), (base, _) = timed((lambda: report_of(store), lambda: report_of(twin)),
                                           repeat)
        finally:
            store.close()
            twin.close()
    label = f"{size // 1000:,} K"
    log(f"report @ {label}: {ours:.0f} ms (p99 {p99:.0f}), 10 K twin {base:.0f} ms")
    return [_report.Row(
        f"pilotage report, 1,000 collectivités @ {label} transactions", ours, "ms",
        baseline=base, baseline_label="same report, 10 K twin, same moment",
        target=f"≤ {TARGET_MS:.0f} ms", passed=ours <= TARGET_MS,
        detail={"p99_ms": p99, "acts_counted": counted,
                "collectivites": len(report["collectivites"])})]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="transactions stored")
    parser.add_argument("--repeat", type=int, default=5, help="timed reports")
    parser.add_argument("--dir", type=Path, help="where the temporary databases go")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(size=args.size, repeat=args.repeat, folder=args.dir,
               log=(lambda *a: print(*a, file=sys.stderr)) if args.json else print)
    return _report.emit(rows, json_output=args.json, title="pilotage report")


if __name__ == "__main__":
    sys.exit(main())
