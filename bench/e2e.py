"""Benchmark: the service end to end over keep-alive mutual TLS, A/B against another commit,
beside two ceilings.

The service (`operator-sim serve`, this source tree) and, with `--against <commit>`, the same
service at that commit (checked out into a temporary `git worktree`, run by this interpreter
with the worktree first on PYTHONPATH, its folders prepared by its own code) are started the
same way and driven in turns in the same run by an independent driver (`_driver.py`:
envelopes from plain strings, the standard library's TLS): a lone client (p50, p99), then
`--concurrency` in flight (submissions/s, p99, every answer a 201 with the ARActe 1-2),
several rounds each. The service's CPU per submission is read from /proc for the whole
process tree (server, fork server, validation workers) and for the main process alone.

Two ceilings, measured in this process on the same machine:
- primitive ceiling: the sum, per submission, of validating the archive, the RFC 3161 stamp,
  the CMS signature of the ARActe, the fsynced blob writes the intake does and one SQLite
  commit, each called in-process (wall clock: it includes the fsync waits); target >= 60%.
- CPU-only ceiling: the CPU of validate + stamp + sign, plus the service's CPU for one
  trivial request over the same keep-alive mTLS (a GET of an unknown transaction, 404),
  summed; 1 / that sum is what one core could do if nothing but that work cost; target >= 40%.
Both are measured before and after the services run, the higher kept (a change of load can
only make the target harder).

    python bench/e2e.py [--count 2000] [--lone 200] [--concurrency 16] [--against 1e65379]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _driver, _report, _service
from operator_sim.engine import outcomes
from operator_sim.pki import PkiStore
from operator_sim.protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
from operator_sim.protocol.messages import IDCL, Acte, message_from_element
from operator_sim.protocol.xmlsafe import parse_xml
from operator_sim.signature.cms import ministere_signer, sign_detached
from operator_sim.signature.policy import SignatureMode, SignaturePolicy
from operator_sim.store import (
    Collectivite,
    NewDocument,
    NewMessage,
    NewTransaction,
    SqliteStore,
)
from operator_sim.timestamp import MemorySerials, authority_from_pki
from operator_sim.validation.validator import ValidationPolicy, validate_archive

TARGET = 0.60  # of the primitive ceiling
CPU_TARGET = 0.40  # of the CPU-only ceiling
ROUNDS = 4  # turns of each service per phase
REPO = Path(__file__).resolve().parents[1]
TRIVIAL = "/api/v1/transactions/999999999"  # an unknown transaction: 404 after mTLS + auth
PRIMITIVES = ("validate", "stamp", "sign", "blobs", "commit")


@dataclass
class Ceiling:
    """Seconds spent per primitive over `count` submissions (wall clock, and CPU of the process:
    the difference is waiting, mostly on fsync)."""

    count: int
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]

    @property
    def per_submission(self) -> float:
        return sum(self.seconds.values()) / self.count

    @property
    def rate(self) -> float:
        return 1 / self.per_submission

    def milliseconds(self, cpu: bool = False) -> dict[str, float]:
        spent = self.cpu_seconds if cpu else self.seconds
        return {k: round(1000 * v / self.count, 3) for k, v in spent.items()}


def primitive_ceiling(workspace: _service.Workspace, subs: list[_service.Submission],
                      folder: Path) -> Ceiling:
    """Call each primitive the intake pays for, on each envelope, and add their costs up."""
    now = datetime.now(UTC)
    pki = PkiStore(workspace.pki_dir)
    # The service's own validation policy (app.build_simulator): signatures verified if present.
    policy = ValidationPolicy(today=now.date(), trust=pki.trust_store(), received_at=now,
                              signatures=SignaturePolicy(mode=SignatureMode("verify-if-present")))
    tsa = authority_from_pki(workspace.pki_dir, clock=lambda: datetime.now(UTC),
                             serials=MemorySerials())
    certificate, key, chain = ministere_signer(pki)
    store = SqliteStore.open(folder / "ceiling")
    seconds = dict.fromkeys(PRIMITIVES, 0.0)
    cpu_seconds = dict.fromkeys(PRIMITIVES, 0.0)
    try:
        for agent in workspace.agents:
            store.add_collectivite(Collectivite(agent.siren, "034", "3", "31", agent.siren))
        for i, sub in enumerate(subs):
            with tarfile.open(fileobj=io.BytesIO(sub.data), mode="r:gz") as tar:
                members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
            marks = [(time.perf_counter(), time.process_time())]

            def lap(marks: list[tuple[float, float]] = marks) -> None:
                marks.append((time.perf_counter(), time.process_time()))

            # From memory, as the service examines and stores a small archive (a raw body).
            report = validate_archive(io.BytesIO(sub.data), policy, name=sub.name)
            lap()
            token = tsa.stamp_digest(bytes.fromhex(sub.sha256))
            lap()
            assert report.valid, report.errors
            acte = next(m for m in members if m[0].endswith("-1-1_0.xml"))
            ar = outcomes.ar_acte(_acte_of(acte[1]), IDCL(sub.siren, "034", 3, "31"),
                                  received=now.date(), classification=now.date(), serial=i + 1,
                                  itc="SLO")
            lap()  # building the AR is not a primitive: not counted
            signature = sign_detached(ar.xml, certificate, key, chain)
            lap()
            put = store.blobs.put
            archive_sha = put(sub.data)
            member_shas = {name: put(data) for name, data in members  # what rows name
                           if name == acte[0] or name.endswith(".pdf")}
            token_sha, ar_sha, sig_sha = put(token), put(ar.xml), put(signature)
            lap()
            pdfs = [(n, s) for n, s in member_shas.items() if n.endswith(".pdf")]
            store.create_transaction(NewTransaction(
                type=TransactionType.ACTE, status=TransactionStatus.ACQUITTEMENT_RECU,
                siren=sub.siren, numero_interne=sub.numero_interne, nature=NatureActe.DE,
                archive_name=sub.name, archive_sha256=archive_sha,
                id_acte=f"034-{sub.siren}-20240312-{sub.numero_interne}-DE",
                messages=(NewMessage("1-1", Sender.CL, acte[0], member_shas[acte[0]],
                                     timestamp_token_sha256=token_sha),
                          NewMessage("1-2", Sender.PREF, ar.file_name, ar_sha, sig_sha, token_sha)),
                documents=tuple(NewDocument("main" if j == 0 else "annexe", j, name, sha,
                                            "application/pdf", 0)
                                for j, (name, sha) in enumerate(pdfs))),
                at=datetime.now(UTC), actor="bench")
            lap()
            steps = [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(marks)]
            del steps[2]  # the AR's construction
            for name, (wall, cpu) in zip(PRIMITIVES, steps, strict=True):
                seconds[name] += wall
                cpu_seconds[name] += cpu
    finally:
        store.close()
    return Ceiling(len(subs), seconds, cpu_seconds)


def _acte_of(xml: bytes) -> Acte:
    acte = message_from_element(parse_xml(xml))
    assert isinstance(acte, Acte)
    return acte


@dataclass
class Tally:
    """What one service did in one phase, summed over its batches."""

    seconds: float = 0.0
    cpu: float = 0.0
    main_cpu: float = 0.0
    results: list[_driver.Result] = field(default_factory=list)

    @property
    def ok(self) -> list[_driver.Result]:
        return [r for r in self.results if r.ok]

    @property
    def all_ok(self) -> bool:
        return bool(self.results) and len(self.ok) == len(self.results)

    @property
    def rate(self) -> float:
        return len(self.ok) / self.seconds if self.seconds else 0.0

    def latency(self, q: float) -> float:
        return _report.percentile([1000 * r.seconds for r in self.ok], q)

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / max(1, len(self.results))

    @property
    def main_cpu_ms(self) -> float:
        return 1000 * self.main_cpu / max(1, len(self.results))

    def answers(self) -> dict[str, int]:
        seen: dict[str, int] = {}
        for r in self.results:
            key = f"{r.status} {r.outcome or r.error}"
            seen[key] = seen.get(key, 0) + 1
        return seen


@dataclass
class Service:
    label: str
    checkout: Path
    workspace: _service.Workspace
    server: _service.Server
    driver: _driver.Driver
    items: Iterator[_driver.Envelope]
    module: str
    tallies: dict[str, Tally] = field(default_factory=dict)

    def batch(self, n: int) -> list[_driver.Envelope]:
        return [next(self.items) for _ in range(n)]


async def batch(service: Service, phase: str, items: list[_driver.Envelope],
                concurrency: int) -> None:
    cpu, main_cpu = service.server.cpu()
    start = time.perf_counter()
    results = await _driver.closed_loop(service.driver, items, concurrency)
    seconds = time.perf_counter() - start
    cpu_after, main_after = service.server.cpu()
    tally = service.tallies.setdefault(phase, Tally())
    tally.seconds += seconds
    tally.cpu += cpu_after - cpu
    tally.main_cpu += main_after - main_cpu
    tally.results += results


async def trivial_request_cpu(service: Service, count: int, concurrency: int) -> float:
    """The service's CPU seconds for one GET (unknown transaction) over keep-alive mTLS."""
    siren = service.workspace.agents[0].siren
    await service.driver.get(siren, TRIVIAL)  # the connection's handshake, not counted
    cpu, _ = service.server.cpu()
    cursor = iter(range(count))
    statuses: list[int] = []

    async def worker() -> None:
        for _ in cursor:
            statuses.append(await service.driver.get(siren, TRIVIAL))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    spent = service.server.cpu()[0] - cpu
    assert set(statuses) == {404}, f"{TRIVIAL} answered {sorted(set(statuses))}, not only 404"
    return spent / count


async def drive(services: list[Service], *, count: int, lone: int, concurrency: int,
                warmup: int, trivial: int) -> float:
    """Every service in turn, phase by phase; the service's CPU for one trivial request."""
    for service in services:  # connections opened, caches and workers warm: not counted
        await _driver.closed_loop(service.driver, service.batch(warmup), concurrency)
    for _ in range(ROUNDS):
        for service in services:
            await batch(service, "lone", service.batch(max(1, lone // ROUNDS)), 1)
        for service in services:
            await batch(service, "in flight", service.batch(max(1, count // ROUNDS)),
                        concurrency)
    return await trivial_request_cpu(services[0], trivial, concurrency)


@contextlib.contextmanager
def checked_out(commit: str, folder: Path) -> Iterator[Path]:
    """`commit` of this repository as a detached worktree in `folder`, removed afterwards."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet",
                    str(folder), commit], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)],
                       check=False)


def _same_start(service: Service) -> None:
    """The running server has the folder and PYTHONPATH `module_file` was checked with."""
    pid = service.server.pid
    cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    environ = dict(entry.split("=", 1) for entry in Path(f"/proc/{pid}/environ").read_text()
                   .split("\0") if "=" in entry)
    if cwd != service.workspace.root.resolve() or \
            environ.get("PYTHONPATH") != str(service.checkout):
        raise RuntimeError(f"{service.label}: server runs in {cwd} with PYTHONPATH="
                           f"{environ.get('PYTHONPATH')}, not as checked")


def cpu_ceiling(ceiling: Ceiling, trivial_cpu: float) -> float:
    """Seconds of CPU per submission: validate + stamp + sign + one trivial request."""
    spent = ceiling.cpu_seconds
    return (spent["validate"] + spent["stamp"] + spent["sign"]) / ceiling.count + trivial_cpu


def run(*, count: int = 2000, lone: int = 200, concurrency: int = 16, agents: int = 4,
        ceiling_count: int = 200, warmup: int = 50, trivial: int = 500,
        against: str | None = None) -> list[_report.Row]:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        checkouts = [("this tree", REPO)]
        if against:
            short = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", against],
                                   check=True, capture_output=True, text=True).stdout.strip()
            checkouts.append((f"main at {short}", stack.enter_context(
                checked_out(against, root / f"checkout-{short}"))))
        services: list[Service] = []
        for index, (label, checkout) in enumerate(checkouts):
            workspace = _service.prepare_in(checkout, root / f"service-{index}", agents=agents)
            module = _service.module_file(checkout, workspace.root)
            if not Path(module).resolve().is_relative_to(checkout.resolve()):
                raise RuntimeError(f"{label}: operator_sim imported from {module}, "
                                   f"not from {checkout}")
            sirens = [a.siren for a in workspace.agents]
            items = _driver.envelopes(sirens, tag="ABCDEFGH"[index])
            services.append(Service(label, checkout, workspace, None, None, items,  # type: ignore[arg-type]
                                    module))
        probe = _service.submissions([a.siren for a in services[0].workspace.agents],
                                     ceiling_count, tag="P")
        (root / "before").mkdir()
        before = primitive_ceiling(services[0].workspace, probe, root / "before")
        load_before = os.getloadavg()

        async def measure() -> float:
            async with contextlib.AsyncExitStack() as clients:
                for service in services:
                    service.driver = await clients.enter_async_context(_driver.Driver(
                        service.server.api_url, service.workspace.roots,
                        [_driver.Agent(a.siren, a.certificate, a.key)
                         for a in service.workspace.agents], connections=concurrency))
                return await drive(services, count=count, lone=lone, concurrency=concurrency,
                                   warmup=warmup, trivial=trivial)

        try:
            for service in services:
                service.server = _service.Server(service.workspace, checkout=service.checkout)
                _same_start(service)
            rss_before = services[0].server.rss()
            trivial_cpu = asyncio.run(measure())
            rss_after = services[0].server.rss()
        finally:
            for service in services:
                if service.server is not None:
                    service.server.stop()
        load_after = os.getloadavg()
        (root / "after").mkdir()
        after = primitive_ceiling(services[0].workspace, probe, root / "after")
    ceiling = max(before, after, key=lambda c: c.rate)
    cpu_per_submission = min(cpu_ceiling(before, trivial_cpu), cpu_ceiling(after, trivial_cpu))
    return rows(services, ceiling, before, after, cpu_per_submission, trivial_cpu,
                concurrency=concurrency, load=(load_before[0], load_after[0]),
                rss=(rss_before, rss_after))


def rows(services: list[Service], ceiling: Ceiling, before: Ceiling, after: Ceiling,
         cpu_per_submission: float, trivial_cpu: float, *, concurrency: int,
         load: tuple[float, float], rss: tuple[tuple[int, int], tuple[int, int]]
         ) -> list[_report.Row]:
    ours, base = services[0], (services[1] if len(services) > 1 else None)
    lone, flight = ours.tallies["lone"], ours.tallies["in flight"]
    b_lone = base.tallies["lone"] if base else None
    b_flight = base.tallies["in flight"] if base else None
    label = base.label if base else ""
    cpu_rate = 1 / cpu_per_submission
    detail = {
        "services": {s.label: {"operator_sim": s.module,
                               **{phase: {"submissions": len(t.results), "answers": t.answers(),
                                          "seconds": round(t.seconds, 2),
                                          "rate": round(t.rate, 1),
                                          "p50_ms": round(t.latency(50), 2),
                                          "p99_ms": round(t.latency(99), 2),
                                          "cpu_ms": round(t.cpu_ms, 2),
                                          "main_cpu_ms": round(t.main_cpu_ms, 2)}
                                  for phase, t in s.tallies.items()}}
                     for s in services},
        "concurrency": concurrency, "rounds": ROUNDS,
        "ceiling_ms_per_primitive": ceiling.milliseconds(),
        "ceiling_cpu_ms_per_primitive": ceiling.milliseconds(cpu=True),
        "ceiling_ms_per_submission": round(1000 * ceiling.per_submission, 3),
        "ceiling_rate_before_after": [round(before.rate, 1), round(after.rate, 1)],
        "cpu_ceiling_ms_per_submission": round(1000 * cpu_per_submission, 3),
        "trivial_request_cpu_ms": round(1000 * trivial_cpu, 3),
        "load_average_before_after": [round(x, 2) for x in load],
        "server_rss_mib_before_after": [round(sum(r) / 2**20, 1) for r in rss],
    }

    def against(tally: Tally | None, value: float) -> dict:
        return {"baseline": value, "baseline_label": label} if tally else {}

    p50, p99 = lone.latency(50), lone.latency(99)
    fast = flight.rate >= 400 and flight.all_ok and (
        b_flight is None or flight.rate >= 4 * b_flight.rate)
    return [
        _report.Row("lone client: latency p50 (mTLS, keep-alive)", p50, "ms",
                    **against(b_lone, b_lone.latency(50) if b_lone else 0), target="≤ 5 ms",
                    passed=p50 <= 5 and lone.all_ok, detail=detail),
        _report.Row("lone client: latency p99", p99, "ms",
                    **against(b_lone, b_lone.latency(99) if b_lone else 0), target="≤ 15 ms",
                    passed=p99 <= 15 and lone.all_ok),
        _report.Row(f"{concurrency} in flight: submissions/s, all 1-2", flight.rate, "sub/s",
                    **against(b_flight, b_flight.rate if b_flight else 0),
                    target="≥ 400/s and ≥ 4× baseline", passed=fast),
        _report.Row(f"{concurrency} in flight: latency p99", flight.latency(99), "ms",
                    **against(b_flight, b_flight.latency(99) if b_flight else 0),
                    target="≤ 100 ms", passed=flight.latency(99) <= 100 and flight.all_ok),
        _report.Row("service CPU per submission (server + workers, /proc)", flight.cpu_ms, "ms",
                    **against(b_flight, b_flight.cpu_ms if b_flight else 0), target="≤ 3 ms",
                    passed=flight.cpu_ms <= 3),
        _report.Row("  of which the main process", flight.main_cpu_ms, "ms",
                    **against(b_flight, b_flight.main_cpu_ms if b_flight else 0)),
        _report.Row(f"{concurrency} in flight vs CPU-only ceiling (validate + stamp + sign + "
                    "one request's HTTP/TLS)", flight.rate, "sub/s", baseline=cpu_rate,
                    baseline_label="CPU-only ceiling, 1 core",
                    target=f"≥ {CPU_TARGET:.2f}× ceiling",
                    passed=flight.rate >= CPU_TARGET * cpu_rate and flight.all_ok),
        _report.Row(f"{concurrency} in flight vs primitive ceiling (fsyncs included)",
                    flight.rate, "sub/s", baseline=ceiling.rate,
                    baseline_label="primitive ceiling", target=f"≥ {TARGET:.2f}× ceiling",
                    passed=flight.rate >= TARGET * ceiling.rate and flight.all_ok),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="submissions in flight, each")
    parser.add_argument("--lone", type=int, default=200, help="lone-client submissions, each")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--agents", type=int, default=4, help="agent certificates (one SIREN each)")
    parser.add_argument("--ceiling-count", type=int, default=200, help="envelopes for the ceiling")
    parser.add_argument("--against", metavar="COMMIT", help="A/B against this commit")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    args = parser.parse_args()
    rows = run(count=args.count, lone=args.lone, concurrency=args.concurrency,
               agents=args.agents, ceiling_count=args.ceiling_count, against=args.against)
    status = _report.emit(rows, json_output=args.json, title="end to end, A/B, ceilings")
    if not args.json:
        detail = rows[0].detail
        print("ceiling ms per primitive:", detail["ceiling_ms_per_primitive"])
        print("  of which CPU:", detail["ceiling_cpu_ms_per_primitive"])
        print("CPU-only ceiling ms per submission:", detail["cpu_ceiling_ms_per_submission"],
              "of which one trivial request:", detail["trivial_request_cpu_ms"])
        for label, phases in detail["services"].items():
            print(f"{label}: {phases}")
    return status


if __name__ == "__main__":
    sys.exit(main())
