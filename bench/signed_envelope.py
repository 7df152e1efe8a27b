"""Benchmark: an envelope whose three files carry detached CMS signatures vs the same envelope
unsigned, end to end through a real `operator-sim serve` (mutual TLS, keep-alive).

Each envelope holds a délibération and two annexes, PDFs of `--size` incompressible bytes; the
signed ones carry, in actes:Signature, the agent's own detached CMS of each file (its chain
included), which the service verifies (default mode: verify if present, pinned trust + CRL).
Unsigned and signed batches take turns, first one client at a time (latency), then
`--concurrency` in flight (rate); the service's CPU (server and its workers, from /proc) is
read around each batch (the whole process tree). Every answer must be a 201 with outcome 1-2.

    python bench/signed_envelope.py [--size 100000] [--count 200] [--concurrency 16]

Against another checkout's service: `cd /tmp && PYTHONPATH=/path/to/checkout python
/path/to/this/bench/signed_envelope.py` (from a neutral folder: the validation workers are
started by a fork server that also looks in the current folder).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bench import _report, _service
from operator_sim.protocol.envelope import Collectivite
from operator_sim.signature import sign_envelope
from operator_sim.testing import corpus

ROUNDS = 4  # batches of each kind, taking turns


def envelopes(workspace: _service.Workspace, count: int, size: int, *, signed: bool,
              start: int, tampered: bool = False) -> list[_service.Submission]:
    """`count` délibérations with a document and two annexes, signed by their SIREN's agent
    (`tampered`: the document changed after signing, which the service must refuse)."""
    chain = x509.load_pem_x509_certificates((workspace.pki_dir / "intermediates.pem").read_bytes())
    made = []
    for i in range(start, start + count):
        agent = workspace.agents[i % len(workspace.agents)]
        numero = f"{'T' if tampered else 'S' if signed else 'U'}{i:07d}"
        request = corpus.base_request(
            numero_interne=numero,
            document=corpus.Piece(_service.big_pdf(size), "pdf", "99_DE"),
            annexes=tuple(corpus.Piece(_service.big_pdf(size), "pdf", "99_DE")
                          for _ in range(2)))
        built = corpus.build(request, collectivite=Collectivite(
            siren=agent.siren, departement="034", arrondissement=3), numero=1 + i % 9999)
        if signed:
            certificate = x509.load_pem_x509_certificate(agent.certificate.read_bytes())
            key = serialization.load_pem_private_key(agent.key.read_bytes(), password=None)
            built = sign_envelope(built, certificate, key, chain)  # type: ignore[arg-type]
        if tampered:
            document = built.acte.document.nom_fichier
            built.members[document] = built.members[document].replace(b"Tf 72", b"Tf 73")
        name, data = corpus._pack(built)
        made.append(_service.Submission(name, data, hashlib.sha256(data).hexdigest(),
                                        agent.siren, numero))
    return made


@dataclass
class Tally:
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    count: int = 0
    bad: list[str] = field(default_factory=list)

    def add(self, answers: list[_service.Answer], seconds: float, cpu: float) -> None:
        self.seconds += seconds
        self.cpu += cpu
        self.count += len(answers)
        for answer in answers:
            if answer.acknowledged and answer.body and answer.body.get("outcome") == "1-2":
                self.latencies.append(answer.seconds * 1000)
            else:
                self.bad.append(f"{answer.status} {answer.body or answer.error}"[:300])


async def submit_one(workspace: _service.Workspace, server: _service.Server,
                     submission: _service.Submission) -> _service.Answer:
    async with _service.clients(workspace, server.api_url, connections=1) as pool:
        return await pool.submit(submission)


async def measure(workspace: _service.Workspace, server: _service.Server,
                  batches: dict[str, list[list[_service.Submission]]], concurrency: int,
                  warmup: list[_service.Submission]) -> dict[str, Tally]:
    tallies = {kind: Tally() for kind in batches}
    async with _service.clients(workspace, server.api_url, connections=concurrency) as pool:
        await _service.closed_loop(pool, warmup, 1)  # not counted
        for index in range(ROUNDS):
            for kind, rounds in batches.items():
                batch = rounds[index]
                cpu, start = _service.tree_cpu(server.pid), time.perf_counter()
                answers = await _service.closed_loop(pool, batch, concurrency)
                tallies[kind].add(answers, time.perf_counter() - start,
                                  _service.tree_cpu(server.pid) - cpu)
    return tallies


def run(*, size: int = 100_000, count: int = 200, concurrency: int = 16) -> list[_report.Row]:
    """Unsigned and signed batches in turns, lone then `concurrency` in flight; their rows."""
    per_round = max(1, count // ROUNDS)
    rows: list[_report.Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-signed-") as tmp:
        workspace = _service.prepare(Path(tmp) / "service", agents=4)
        made = {kind: envelopes(workspace, 2 * ROUNDS * per_round + 2, size,
                                signed=kind == "signed", start=0)
                for kind in ("unsigned", "signed")}
        tampered = envelopes(workspace, 1, size, signed=True, start=0, tampered=True)
        server = _service.Server(workspace)
        load_before = os.getloadavg()
        try:
            refused = asyncio.run(submit_one(workspace, server, tampered[0]))
            if refused.acknowledged and refused.body.get("outcome") == "1-2":
                raise SystemExit("a document changed after signing was accepted: signatures "
                                 "are not being checked")
            results = {}
            for phase, in_flight, offset in (("lone", 1, 0), ("in flight", concurrency, 1)):
                batches = {kind: [subs[2 + (offset * ROUNDS + r) * per_round:][:per_round]
                                  for r in range(ROUNDS)] for kind, subs in made.items()}
                warmup = [] if offset else [s for subs in made.values() for s in subs[:2]]
                results[phase] = asyncio.run(measure(workspace, server, batches, in_flight,
                                                     warmup))
        finally:
            server.stop()
        load_after = os.getloadavg()
    for phase, tallies in results.items():
        unsigned, signed = tallies["unsigned"], tallies["signed"]
        for kind, tally in tallies.items():
            if tally.bad:
                print(f"{phase} {kind}: {len(tally.bad)} bad answers, e.g. {tally.bad[0]}",
                      file=sys.stderr)
        ok = not unsigned.bad and not signed.bad
        detail = {"concurrency": 1 if phase == "lone" else concurrency,
                  "tampered_signed_envelope": f"{refused.status} {refused.body}"[:200],
                  "submissions_each": unsigned.count, "pdf_bytes": size,
                  "load_average_before_after": [round(load_before[0], 2),
                                                round(load_after[0], 2)]}
        cpu_ratio = (signed.cpu / signed.count) / (unsigned.cpu / unsigned.count)
        rows += [
            _report.Row(f"3 signed files vs unsigned, {phase}: service CPU per submission",
                        1000 * signed.cpu / signed.count, "ms",
                        baseline=1000 * unsigned.cpu / unsigned.count,
                        baseline_label="unsigned", target="≤ 1.5×",
                        passed=ok and cpu_ratio <= 1.5, detail=detail),
            _report.Row(f"3 signed files vs unsigned, {phase}: latency p50",
                        _report.percentile(signed.latencies, 50), "ms",
                        baseline=_report.percentile(unsigned.latencies, 50),
                        baseline_label="unsigned", target="≤ 1.5×",
                        passed=ok and _report.percentile(signed.latencies, 50)
                        <= 1.5 * _report.percentile(unsigned.latencies, 50)),
            _report.Row(f"3 signed files vs unsigned, {phase}: submissions/s",
                        signed.count / signed.seconds, "sub/s",
                        baseline=unsigned.count / unsigned.seconds, baseline_label="unsigned"),
        ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="bytes per PDF (3 per act)")
    parser.add_argument("--count", type=int, default=200,
                        help="submissions of each kind per phase (lone, then in flight)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    args = parser.parse_args()
    rows = run(size=args.size, count=args.count, concurrency=args.concurrency)
    return _report.emit(rows, title="Signed envelope (3 detached CMS) vs unsigned, end to end")


if __name__ == "__main__":
    raise SystemExit(main())
