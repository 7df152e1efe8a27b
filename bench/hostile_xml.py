"""Validation time of hostile XML shapes, each in an archive under the size cap.

Issue 17: a 20 KB archive whose Acte root carried 3,000 undeclared attributes took minutes to
validate, and a valid act sent meanwhile waited as long. Each shape is built to cost as much as
it can (random values, so the gzip ratio rule does not refuse it first). Rows:

- offline: the time `validate_archive` takes on it in this process, worst of `--runs`, against
  one second (the same validator runs in `operator-sim validate` and the service's workers);
- service (`--service`): a real `operator-sim serve` is sent the shape and, 50 ms later, a valid
  act; the valid act's latency against its latency alone (baseline, same run), target: at most
  one second more.

    python bench/hostile_xml.py [--runs 3] [--service] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import io
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report, _service
from bench._report import Row
from operator_sim.protocol.envelope import Collectivite
from operator_sim.testing import corpus
from operator_sim.validation.validator import ValidationPolicy, validate_archive

TARGET = 1.0  # seconds per archive
_random = random.Random(17)


def _hex(n: int) -> bytes:
    return _random.randbytes(n).hex().encode()


def _annexes(count: int, attributes: int) -> Callable[[bytes], bytes]:
    def change(xml: bytes) -> bytes:
        one = [b"<actes:Annexe" + b"".join(b' b%d="%s"' % (j, _hex(4)) for j in range(attributes))
               + b"><actes:NomFichier>" + _hex(8) + b".pdf</actes:NomFichier></actes:Annexe>"
               for _ in range(count)]
        return xml.replace(b"</actes:Annexes>", b"".join(one) + b"</actes:Annexes>", 1)
    return change


def _at_root(extra: Callable[[], bytes]) -> Callable[[bytes], bytes]:
    return lambda xml: xml.replace(b"<actes:Acte ", b"<actes:Acte" + extra() + b" ", 1)


def _in_objet(inner: Callable[[], bytes]) -> Callable[[bytes], bytes]:
    return lambda xml: xml.replace(b"<actes:Objet>", b"<actes:Objet>" + inner(), 1)


SHAPES: dict[str, Callable[[bytes], bytes]] = {
    "3,000 undeclared attributes on the Acte root (issue 17)":
        _at_root(lambda: b"".join(b' a%d="x"' % i for i in range(3000))),
    "88,000 schema errors (1,400 Annexe × 63 attributes)": _annexes(1400, 63),
    "49,000 Annexe elements (more files than an archive may hold)": _annexes(49_000, 0),
    "499 Annexe elements naming absent files (findings)": _annexes(499, 0),
    "20,000 namespace declarations on the root":
        _at_root(lambda: b"".join(b' xmlns:p%d="urn:%s"' % (i, _hex(4)) for i in range(20_000))),
    "250 nested elements, one namespace each, in Objet":
        _in_objet(lambda: b"".join(b'<x xmlns:p%d="urn:%d">' % (i, i) for i in range(250))
                  + b"</x>" * 250),
    "a 5 MB attribute value": _at_root(lambda: b' a="' + _hex(2_500_000) + b'"'),
    "99,000 unexpected elements at the end of the Acte":
        lambda xml: xml.replace(b"</actes:Acte>", b"".join(
            b"<x%s/>" % _hex(2) for _ in range(99_000)) + b"</actes:Acte>", 1),
    "valid act (reference)": lambda xml: xml,
}


def archive(change: Callable[[bytes], bytes], siren: str | None = None,
            numero: str = "DELIB2024_012") -> tuple[str, bytes]:
    collectivite = corpus.COMMUNE if siren is None else Collectivite(
        siren=siren, departement="034", arrondissement=3)
    built = corpus.build(corpus.base_request(numero_interne=numero), collectivite=collectivite)
    built.members[built.message_name] = change(built.members[built.message_name])
    return corpus._pack(built)


def _submission(change: Callable[[bytes], bytes], siren: str, numero: str
                ) -> _service.Submission:
    name, data = archive(change, siren, numero)
    return _service.Submission(name, data, hashlib.sha256(data).hexdigest(), siren, numero)


async def _alongside(pool: _service.Clients, siren: str, runs: int) -> list[Row]:
    serial = iter(range(1_000_000))

    def valid() -> _service.Submission:
        return _submission(lambda xml: xml, siren, f"V{next(serial):07d}")

    alone = []
    for _ in range(max(3, runs)):
        answer = await pool.submit(valid())
        assert answer.acknowledged, answer
        alone.append(answer.seconds)
    baseline = statistics.median(alone)
    rows = []
    for label, change in SHAPES.items():
        if label.startswith("valid act"):
            continue
        hostile = _submission(change, siren, f"H{next(serial):07d}")
        worst_valid, worst_hostile, status = 0.0, 0.0, None
        for _ in range(runs):
            async def valid_later() -> _service.Answer:
                await asyncio.sleep(0.05)  # the hostile archive's validation is under way
                return await pool.submit(valid())
            bad, good = await asyncio.gather(pool.submit(hostile), valid_later())
            assert good.acknowledged, good
            worst_valid = max(worst_valid, good.seconds)
            worst_hostile = max(worst_hostile, bad.seconds)
            status = (bad.status, (bad.body or {}).get("code"))
        rows.append(Row(f"service: valid act sent during «{label}»", worst_valid, "s",
                        baseline=baseline, baseline_label="valid act alone, median",
                        target="≤ baseline + 1 s", passed=worst_valid <= baseline + TARGET,
                        detail={"hostile_seconds": round(worst_hostile, 3),
                                "hostile_answer": status}))
    return rows


def run_service(runs: int = 3) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="hostile-xml-") as folder:
        workspace = _service.prepare(Path(folder), agents=1)
        server = _service.Server(workspace)
        try:
            async def drive() -> list[Row]:
                async with _service.clients(workspace, server.api_url) as pool:
                    return await _alongside(pool, workspace.agents[0].siren, runs)
            return asyncio.run(drive())
        finally:
            server.stop()


def run(runs: int = 3) -> list[Row]:
    policy = ValidationPolicy(today=dt.date(2025, 1, 1))
    validate_archive(io.BytesIO(archive(SHAPES["valid act (reference)"])[1]), policy,
                     name=corpus.build().name)  # warm-up: schemas compiled, modules imported
    rows = []
    for label, change in SHAPES.items():
        name, data = archive(change)
        times, codes = [], []
        for _ in range(runs):
            start = time.perf_counter()
            report = validate_archive(io.BytesIO(data), policy, name=name)
            times.append(time.perf_counter() - start)
            codes = report.codes
        worst = max(times)
        rows.append(Row(label, worst, "s", target=f"≤ {TARGET:g} s", passed=worst <= TARGET,
                        detail={"best": round(min(times), 4), "archive_bytes": len(data),
                                "findings": len(codes), "first": codes[:1]}))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--service", action="store_true",
                        help="also send each shape to a real `operator-sim serve`")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args.runs)
    if args.service:
        rows += run_service(args.runs)
    if not args.json:
        for row in rows:
            print(f"{row.name}: {row.detail}")
    return _report.emit(rows, json_output=args.json,
                        title="hostile XML: validation time per archive (worst of runs)")


if __name__ == "__main__":
    sys.exit(main())
