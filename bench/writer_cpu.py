"""The store writer thread's CPU per receipt, in-process: no HTTP, no validation, no signing.

Replays what one act acknowledged at once asks of the writer (`engine.intake`): the sender
and its convention read, then the one step that registers the sender, finds no duplicate,
reserves the daily serial, stages the small blobs and inserts the act in 4 with its journal
rows and signed answer (`_record_answered`), and the request journal entry deferred to the
next commit. `--concurrency` submissions are in flight at once on one event loop through
`AsyncStore`, as under the service, so group commit groups them. The writer's
user and system CPU are read from /proc/self/task/<its tid>/stat before and after.

    python bench/writer_cpu.py --count 2000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import os
import tempfile
import threading
import time
from pathlib import Path

from operator_sim.engine.clock import paris_date
from operator_sim.engine.intake import _record_answered, _sender
from operator_sim.protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
from operator_sim.protocol.messages import IDCL
from operator_sim.store import SqliteStore
from operator_sim.store.asyncstore import AsyncStore
from operator_sim.store.interface import NewConvention, NewDocument, NewMessage, NewTransaction

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(tid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of one thread of this process."""
    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


async def submission(store: AsyncStore, idcl: IDCL, n: int, at: dt.datetime) -> None:
    sqlite = store.store
    await store.call(_sender, idcl.siren, paris_date(at))
    numero = f"W{n:07d}"
    id_acte = f"034-{idcl.siren}-20261207-{numero}-DE"

    def answer(serial: int) -> tuple[NewTransaction, NewMessage]:  # on the writer, as intake's
        archive, act, pdf, token, xml, signature = [
            sqlite.blobs.put(f"{part} {n} {serial}".encode() * 40)
            for part in ("archive", "act", "pdf", "token", "answer", "signature")]
        new = NewTransaction(
            type=TransactionType.ACTE, status=TransactionStatus.POSTE, siren=idcl.siren,
            numero_interne=numero, nature=NatureActe.DE, matiere="1.1", objet="Objet",
            decision_date=dt.date(2026, 12, 1), archive_name=f"{numero}.tar.gz",
            archive_sha256=archive,
            messages=(NewMessage("1-1", Sender.CL, "act.xml", act,
                                 timestamp_token_sha256=token),),
            documents=(NewDocument("main", 0, "doc.pdf", pdf, "application/pdf", 4000),))
        return new, NewMessage("1-2", Sender.PREF, f"ar_{serial}.xml", xml,
                               signature_sha256=signature, timestamp_token_sha256=token)

    row = await store.call(_record_answered, idcl, numero, id_acte,
                           f"return-envelope-{idcl.siren}-20261207", answer, at, "agent",
                           "ministere", None)
    assert row is not None and row.status is TransactionStatus.ACQUITTEMENT_RECU
    sqlite.defer_request({"at": at, "method": "POST", "path": "/api/v1/archives", "query": "",
                          "status": 201, "duration_ms": 3, "remote": "127.0.0.1",
                          "subject": "CN=Agent", "fingerprint": "ab" * 32, "verdict": "valid",
                          "identity": {"login": "agent", "sirens": [idcl.siren]},
                          "transaction_id": None})


async def drive(store: AsyncStore, count: int, concurrency: int, start: int) -> None:
    idcls = [IDCL(f"{21340000 + i:08d}{k}", "034", 3, "1") for i, k in
             ((0, 5), (1, 3), (3, 9), (2, 1))]
    at = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    cursor = iter(range(start, start + count))

    async def worker() -> None:
        for n in cursor:
            await submission(store, idcls[n % len(idcls)], n, at)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await store.flush_deferred()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--profile", metavar="FILE", help="cProfile the writer thread into FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="writer-cpu-") as tmp, \
            SqliteStore.open(tmp) as sqlite:
        for i, k in ((0, 5), (1, 3), (3, 9), (2, 1)):
            sqlite.add_convention(NewConvention(f"{21340000 + i:08d}{k}", dt.date(2001, 1, 1),
                                                "SLO"))
        tid = sqlite.run_write(lambda db: threading.get_native_id())
        store = AsyncStore(sqlite)
        asyncio.run(drive(store, args.warmup, args.concurrency, 0))
        profile = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not waits
        if profile is not None:
            sqlite.run_write(lambda db: profile.enable())
        loop_tid = threading.get_native_id()
        commits, (user, system), start = sqlite.commits, thread_cpu(tid), time.perf_counter()
        loop_before = sum(thread_cpu(loop_tid))
        asyncio.run(drive(store, args.count, args.concurrency, args.warmup))
        loop_cpu = sum(thread_cpu(loop_tid)) - loop_before
        if profile is not None:
            sqlite.run_write(lambda db: profile.disable())
            profile.dump_stats(args.profile)
        seconds = time.perf_counter() - start
        user2, system2 = thread_cpu(tid)
        store.close()
    per = 1000 / args.count
    print(f"writer CPU per receipt: {(user2 - user) * per:.3f} ms user + "
          f"{(system2 - system) * per:.3f} ms system = "
          f"{(user2 - user + system2 - system) * per:.3f} ms; "
          f"{(sqlite.commits - commits) / args.count:.2f} commits per receipt; "
          f"event loop {loop_cpu * per:.3f} ms; "
          f"{args.count / seconds:.0f} receipts/s; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
