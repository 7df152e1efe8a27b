"""Crash safety: SIGKILL a loaded `operator-sim serve` again and again, then prove nothing was lost.

Agents post thousands of valid envelopes (distinct NumeroInterne) concurrently over mutual TLS
while the server — main process and validation workers — is SIGKILLed at random points and
restarted on the same data and PKI folders. After every kill, and once more at the end, the
data folder is checked directly (sqlite3, its small blob rows and the blob files, not through
our store code):

- every acknowledged submission (a 201 received) is there, intact: transaction row, status,
  archive blob with the same SHA-256, the 1-1, the 1-2 and its signature and token blobs;
- no transaction is half-written: each has a journal whose chain ends at its status, every
  blob a row names exists and still hashes to its name, `PRAGMA integrity_check` is ok;
- a submission cut off by a kill, sent again, is taken whole or was taken whole already
  (an ARActe, or an AnomalieActe DOUBLON) — never a 500. Before each kill a few clients also
  stop waiting for their answer (short timeout) while the server goes on; before the first
  kill they are given time to commit, so some commits certainly happen with nobody left to
  hear the 201: their retries must be DOUBLONs.

    python bench/crash.py [--count 3000] [--kills 6] [--concurrency 32] [--agents 4] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import itertools
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report, _service
from operator_sim.protocol.codes import AnomalieNature, TransactionStatus
from operator_sim.store import BlobStore
from operator_sim.store.database import BLOBS_NAME, DATABASE_NAME
from operator_sim.timestamp import read_token

S = TransactionStatus
DOUBLON = str(AnomalieNature.DOUBLON)
# The intake commits a transaction and its whole walk to the answer in one SQLite transaction:
# a type-1 act is only ever seen acknowledged (4) or refused (-1), never in between.
SETTLED = {int(S.ACQUITTEMENT_RECU), int(S.ERREUR)}


@dataclass
class Ack:
    """A 201 the client received: what the server promised is stored."""

    submission: _service.Submission
    transaction_id: int
    outcome: str
    id_acte: str | None
    retried: bool


@dataclass
class CrashRun:
    """Everything seen during a run, and every problem found by the checks."""

    submissions: int = 0
    numeros: list[str] = field(default_factory=list)  # every NumeroInterne sent
    kills: int = 0
    acknowledged: dict[str, Ack] = field(default_factory=dict)  # by NumeroInterne
    taken_before_kill: set[str] = field(default_factory=set)  # retries answered DOUBLON
    in_doubt: set[str] = field(default_factory=set)  # sent, no answer: the server died
    retried: int = 0
    answers: collections.Counter = field(default_factory=collections.Counter)
    problems: list[str] = field(default_factory=list)
    checks: int = 0
    kill_points: list[dict] = field(default_factory=list)
    restart_seconds: list[float] = field(default_factory=list)
    leftovers: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        return {"submissions": self.submissions, "kills": self.kills,
                "acknowledged": len(self.acknowledged), "retried_after_kill": self.retried,
                "retries_already_stored": len(self.taken_before_kill),
                "answers": dict(self.answers), "store_checks": self.checks,
                "kill_points": self.kill_points,
                "restart_seconds": [round(s, 2) for s in self.restart_seconds],
                "leftover_temp_files": self.leftovers, "seconds": round(self.seconds, 1),
                "problems": self.problems[:20], "problem_count": len(self.problems)}


# -- load under kills ----------------------------------------------------------------------------


async def _round(run: CrashRun, workspace: _service.Workspace, server: _service.Server,
                 pending: collections.deque[_service.Submission], *, concurrency: int,
                 kill_after: int | None, rng: random.Random, abandon: int = 0,
                 settle: float | None = None, floor: int = 0) -> None:
    """Post from `pending` until it is empty, or SIGKILL the server after `kill_after` answers.

    Just before the kill, `abandon` clients give up on their answers. With `settle`, the other
    clients then pause that long (time for the quitters' commits); otherwise the kill comes at
    a random moment. Clients park when only `floor` submissions are left (kept for the later
    rounds, so that a fast server cannot drain the queue), which brings the kill forward; it
    always lands while requests are in flight.
    """
    killed = asyncio.Event()
    running = asyncio.Event()
    running.set()
    floor_reached = asyncio.Event()
    answered = 0
    in_flight: set[str] = set()
    abandoned: set[str] = set()

    def handle(answer: _service.Answer) -> None:
        nonlocal answered
        sub = answer.submission
        numero = sub.numero_interne
        was_in_doubt = numero in run.in_doubt
        if answer.status is None:
            if killed.is_set() or numero in abandoned:  # no answer: send it first next time
                run.in_doubt.add(numero)
                pending.appendleft(sub)
                run.answers["no answer"] += 1
            else:
                run.problems.append(f"{numero}: transport error without a kill: {answer.error}")
            return
        answered += 1
        body = answer.body or {}
        outcome = body.get("outcome")
        nature = (body.get("anomalie") or {}).get("nature")
        run.answers[f"{answer.status} {outcome or body.get('code')}"
                    f"{' ' + nature if nature else ''}{' (retry)' if was_in_doubt else ''}"] += 1
        run.in_doubt.discard(numero)
        if answer.status == 201 and outcome == "1-2":
            run.acknowledged[numero] = Ack(sub, body["transaction"]["id"], outcome,
                                           body.get("id_acte"), was_in_doubt)
        elif answer.status == 201 and outcome == "1-3" and nature == DOUBLON and was_in_doubt:
            run.taken_before_kill.add(numero)  # the cut-off attempt had been committed whole
        else:
            run.problems.append(f"{numero}: unexpected answer {answer.status} {body}"
                                f"{' to a retry' if was_in_doubt else ''}")

    async def worker(pool: _service.Clients) -> None:
        while pending and not killed.is_set():
            if kill_after is not None and len(pending) <= floor:
                floor_reached.set()
                running.clear()
            await running.wait()
            if killed.is_set() or not pending:
                break
            sub = pending.popleft()
            if sub.numero_interne in run.in_doubt:
                run.retried += 1
            in_flight.add(sub.numero_interne)
            answer = await pool.submit(sub)
            in_flight.discard(sub.numero_interne)
            handle(answer)

    async def sleep_unless_floor(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(floor_reached.wait(), seconds)

    async def land_in_flight() -> None:
        """Parked or drained clients are let go below the floor until one request is out."""
        nonlocal floor
        if in_flight or not pending:
            return
        floor = 0
        running.set()
        while not in_flight and pending:
            await asyncio.sleep(0.001)
        await asyncio.sleep(rng.uniform(0, 0.01))

    async def killer() -> None:
        assert kill_after is not None
        while answered < kill_after and pending and not floor_reached.is_set():
            await asyncio.sleep(0.005)
        quitters = [pending.popleft() for _ in range(min(abandon, len(pending)))]
        abandoned.update(s.numero_interne for s in quitters)
        # Own connections, so that the short timeout runs on the request, not on a queue.
        async with _service.clients(workspace, server.api_url,
                                    connections=max(1, abandon) * len(workspace.agents)) as own:
            # They give up once their request is sent, before any answer can come: a server
            # that answers within a fixed timeout would leave nothing for them to abandon.
            gave_up = await asyncio.gather(*(own.submit(s, give_up=0.002) for s in quitters))
        for answer in gave_up:
            handle(answer)
        if settle is not None:
            running.clear()  # the quitters' commits land with nobody else listening
            await asyncio.sleep(settle)
            running.set()
            await sleep_unless_floor(rng.uniform(0.01, 0.05))
        else:  # anywhere: inside requests, before or after the quitters' commits
            await sleep_unless_floor(rng.uniform(0, 0.6) if quitters else rng.uniform(0, 0.05))
        await land_in_flight()
        killed.set()
        running.set()  # parked clients wake up to see the kill and leave
        run.kill_points.append({"answers_this_round": answered, "in_flight": len(in_flight),
                                "abandoned": len(quitters)})
        server.kill()
        run.kills += 1

    async with _service.clients(workspace, server.api_url, connections=concurrency,
                                timeout=60) as pool:
        tasks = [worker(pool) for _ in range(concurrency)]
        if kill_after is not None:
            tasks.append(killer())
        await asyncio.gather(*tasks)


def run_crash(root: Path, *, count: int = 3000, kills: int = 6, concurrency: int = 32,
              agents: int = 4, seed: int | None = None,
              log: Callable[..., None] = print) -> CrashRun:
    """The whole scenario in `root` (kept for inspection); returns what was seen and found."""
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    started = time.monotonic()
    workspace = _service.prepare(root, agents=agents)
    subs = _service.submissions([a.siren for a in workspace.agents], count, tag="K")
    run = CrashRun(submissions=count, numeros=[s.numero_interne for s in subs])
    pending = collections.deque(subs)
    share = count / (kills + 1)
    abandon = max(2, concurrency // 4)
    log(f"crash: {count} submissions, {kills} kills, {concurrency} in flight, seed {seed}")
    for round_number in range(kills + 1):
        server = _service.Server(workspace)
        run.restart_seconds.append(server.startup_seconds)
        last = round_number == kills
        kill_after = None if last else rng.randint(max(1, int(share * 0.3)), max(2, int(share)))
        try:
            asyncio.run(_round(run, workspace, server, pending, concurrency=concurrency,
                               kill_after=kill_after, rng=rng, abandon=abandon,
                               settle=2.5 if round_number == 0 else None,
                               floor=(kills - round_number) * (concurrency + abandon)))
        finally:
            server.kill()  # after the last round too: a crash at rest
        check_store(run, workspace.data_dir)
        log(f"  round {round_number + 1}: {len(run.acknowledged)} acknowledged, "
            f"{len(run.in_doubt)} cut off, {len(run.problems)} problems")
    server = _service.Server(workspace)  # restart once more and read through the API
    run.restart_seconds.append(server.startup_seconds)
    try:
        asyncio.run(check_through_api(run, workspace, server, rng))
    finally:
        server.stop()
    check_store(run, workspace.data_dir, final=True)
    run.seconds = time.monotonic() - started
    return run


# -- checks -------------------------------------------------------------------------------------


def check_store(run: CrashRun, data: Path, *, final: bool = False) -> None:
    """Read the data folder as it is on disk and record every broken promise in `run.problems`."""
    run.checks += 1
    problems = run.problems
    blobs = BlobStore(data / BLOBS_NAME)
    conn = sqlite3.connect(data / DATABASE_NAME)
    conn.row_factory = sqlite3.Row
    try:
        integrity = conn.execute("pragma integrity_check").fetchall()
        if [tuple(r) for r in integrity] != [("ok",)]:
            problems.append(f"integrity_check: {[tuple(r) for r in integrity][:5]}")
        if conn.execute("pragma foreign_key_check").fetchall():
            problems.append("foreign_key_check reports dangling references")
        transactions = {r["id"]: dict(r) for r in conn.execute("select * from transactions")}
        journal = collections.defaultdict(list)
        for r in conn.execute("select * from journal order by id"):
            journal[r["transaction_id"]].append(dict(r))
        messages = collections.defaultdict(list)
        for r in conn.execute("select * from messages order by id"):
            messages[r["transaction_id"]].append(dict(r))
        documents = collections.defaultdict(list)
        for r in conn.execute("select * from documents"):
            documents[r["transaction_id"]].append(dict(r))
        # Small blobs are rows (migration 0013_small_blobs), committed with the rows naming them.
        small = {r["sha256"]: bytes(r["data"]) for r in conn.execute(
            "select sha256, data from small_blobs")}
    finally:
        conn.close()

    def stored(sha: str) -> bytes:
        return small[sha] if sha in small else blobs.read(sha)

    checked: dict[str, bool] = {}

    def blob_ok(sha: str | None, what: str) -> bool:
        if sha is None:
            return True
        if sha not in checked:
            checked[sha] = (hashlib.sha256(small[sha]).hexdigest() == sha if sha in small
                            else blobs.exists(sha) and blobs.verify(sha))
            if not checked[sha]:
                problems.append(f"{what}: blob {sha} missing or corrupt")
        return checked[sha]

    tokens: dict[str, str] = {}  # token blob → transaction
    imprints: dict[str, str] = {}  # token blob → the archive it must stamp
    for tid, row in transactions.items():
        events = journal.get(tid, [])
        if not events:
            problems.append(f"transaction {tid}: no journal")
            continue
        if events[0]["from_status"] is not None:
            problems.append(f"transaction {tid}: journal does not start with a creation")
        for before, after in itertools.pairwise(events):
            if after["from_status"] != before["to_status"]:
                problems.append(f"transaction {tid}: journal jumps {before['to_status']} → "
                                f"{after['from_status']}")
        if events[-1]["to_status"] != row["status"]:
            problems.append(f"transaction {tid}: status {row['status']} but journal ends at "
                            f"{events[-1]['to_status']}")
        own = {m["id"] for m in messages.get(tid, [])}
        for event in events:
            if event["message_id"] is not None and event["message_id"] not in own:
                problems.append(f"transaction {tid}: journal names message {event['message_id']}")
        codes = [m["code"] for m in messages.get(tid, [])]
        if row["type"] == 1:
            if row["status"] not in SETTLED:
                problems.append(f"transaction {tid}: half-walked act at status {row['status']}")
            expected = ["1-1", "1-2"] if row["status"] == S.ACQUITTEMENT_RECU else ["1-1", "1-3"]
            if codes != expected:
                problems.append(f"transaction {tid}: messages {codes}, expected {expected}")
            if row["status"] == S.ACQUITTEMENT_RECU and not row["id_acte"]:
                problems.append(f"transaction {tid}: acknowledged without an IDActe")
            if not documents.get(tid):
                problems.append(f"transaction {tid}: no documents")
        blob_ok(row["archive_sha256"], f"transaction {tid} archive")
        for m in messages.get(tid, []):
            for column in ("xml_sha256", "signature_sha256", "timestamp_token_sha256"):
                blob_ok(m[column], f"transaction {tid} message {m['code']} {column}")
            if m["code"] in ("1-2", "1-3") and not (m["signature_sha256"]
                                                    and m["timestamp_token_sha256"]):
                problems.append(f"transaction {tid}: {m['code']} without signature or token")
            if m["timestamp_token_sha256"]:
                tokens[m["timestamp_token_sha256"]] = str(tid)
                imprints[m["timestamp_token_sha256"]] = row["archive_sha256"]
        for d in documents.get(tid, []):
            blob_ok(d["sha256"], f"transaction {tid} document {d['file_name']}")

    serials: dict[int, str] = {}
    for sha, tid in tokens.items():
        if checked.get(sha):
            info = read_token(stored(sha))
            serial = info.serial_number
            if info.digest.hex() != imprints[sha]:
                problems.append(f"transaction {tid}: its token stamps another archive")
            if serial in serials:
                problems.append(f"TSA serial {serial:#x} reused by transactions {serials[serial]}"
                                f" and {tid}")
            serials[serial] = tid

    live = collections.defaultdict(list)
    for tid, row in transactions.items():
        if row["type"] == 1 and row["status"] == S.ACQUITTEMENT_RECU:
            live[(row["siren"], row["numero_interne"])].append(tid)
    for key, tids in live.items():
        if len(tids) > 1:
            problems.append(f"{key}: acknowledged {len(tids)} times ({tids})")
    for numero, ack in run.acknowledged.items():
        sub = ack.submission
        row = transactions.get(ack.transaction_id)
        if row is None:
            problems.append(f"{numero}: acknowledged as transaction {ack.transaction_id}, "
                            "missing after the kill")
            continue
        if (row["numero_interne"], row["siren"], row["archive_sha256"], row["status"],
                row["id_acte"]) != (numero, sub.siren, sub.sha256, S.ACQUITTEMENT_RECU,
                                    ack.id_acte):
            problems.append(f"{numero}: transaction {ack.transaction_id} differs from its 201 "
                            f"({row['numero_interne']}, {row['status']}, {row['id_acte']})")
    by_numero = {key[1]: tids for key, tids in live.items()}
    for numero in run.taken_before_kill:
        if numero not in by_numero:
            problems.append(f"{numero}: a retry was told DOUBLON but no acknowledged act exists")
    if final:
        missing = [n for n in run.numeros if n not in by_numero]
        if missing:
            problems.append(f"{len(missing)} submissions never acknowledged (first: {missing[0]})")
        if run.in_doubt:
            problems.append(f"{len(run.in_doubt)} submissions still without an answer")
        run.leftovers = {
            "blobs/.tmp": sum(1 for _ in (data / BLOBS_NAME / ".tmp").glob("*")),
            "uploads": sum(1 for _ in (data / "uploads").glob("*")),
            "unreferenced blobs": _unreferenced(blobs, small, checked)}


def _unreferenced(blobs: BlobStore, small: dict[str, bytes], referenced: dict[str, bool]) -> int:
    """Blobs no row names (written by submissions a kill cut off before their commit)."""
    count = sum(sha not in referenced for sha in small)
    for path in blobs.root.glob("??/??/*"):
        count += path.name not in referenced
    return count


async def check_through_api(run: CrashRun, workspace: _service.Workspace,
                            server: _service.Server, rng: random.Random, sample: int = 40) -> None:
    """After the last restart, read a sample of acknowledged acts back as their agents would,
    and send a few acknowledged envelopes again: each must be refused as DOUBLON (1-3)."""
    acks = list(run.acknowledged.values())
    chosen = rng.sample(acks, min(sample, len(acks)))
    async with _service.clients(workspace, server.api_url, connections=8) as pool:
        for ack in chosen:
            http = pool.session(ack.submission.siren)
            base = f"/api/v1/transactions/{ack.transaction_id}"
            async with http.get(base) as response:
                body = await response.json()
                history = [e["to"] for e in body.get("history", [])]
                if response.status != 200 or body["transaction"]["status"] != S.ACQUITTEMENT_RECU \
                        or history[-1:] != [int(S.ACQUITTEMENT_RECU)]:
                    run.problems.append(f"API {base}: {response.status} {body}")
            async with http.get(f"{base}/archive") as response:
                data = await response.read()
                if data != ack.submission.data:
                    run.problems.append(f"API {base}/archive: not the bytes that were sent")
            for path in ("messages/1-2", "messages/1-2/signature", "messages/1-2/timestamp"):
                async with http.get(f"{base}/{path}") as response:
                    if response.status != 200 or not await response.read():
                        run.problems.append(f"API {base}/{path}: {response.status}")
        for ack in chosen[:5]:
            answer = await pool.submit(ack.submission)
            body = answer.body or {}
            if not (answer.status == 201 and body.get("outcome") == "1-3"
                    and (body.get("anomalie") or {}).get("nature") == DOUBLON):
                run.problems.append(f"{ack.submission.numero_interne} sent again: "
                                    f"{answer.status} {body or answer.error}")


def rows(run: CrashRun) -> list[_report.Row]:
    lost = sum(1 for p in run.problems if "missing after the kill" in p)
    return [_report.Row(
        f"crash safety: SIGKILL ×{run.kills} under load, {len(run.acknowledged)} acknowledged "
        f"of {run.submissions}, {run.retried} resent", len(run.problems), "problems",
        target="0 lost, 0 half-written, no 500", passed=run.ok and run.kills > 0,
        detail={**run.summary(), "lost_acknowledged": lost})]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        root = args.keep or Path(tmp)
        run = run_crash(root, count=args.count, kills=args.kills, concurrency=args.concurrency,
                        agents=args.agents, seed=args.seed,
                        log=(lambda *a: print(*a, file=sys.stderr)) if args.json else print)
    status = _report.emit(rows(run), json_output=args.json, title="crash safety")
    if not args.json:
        for key, value in run.summary().items():
            print(f"  {key}: {value}")
    return status


if __name__ == "__main__":
    sys.exit(main())
