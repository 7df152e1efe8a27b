"""Soak: hold the service at 70% of the capacity measured in the same run, watch errors and memory.

Starts `operator-sim serve` on fresh folders, measures its capacity (closed loop, every agent
busy), then sends submissions at a fixed pace of `--load` × capacity for `--duration`,
sampling the server's RSS (main process and validation workers, from /proc) every second.
Prints one line per window (answers, errors, p50/p99 latency, RSS) and a verdict: no errors,
and memory flat — the least-squares RSS slope over the second half, projected over that half,
stays under max(`--flat-mib` MiB, 5% of the RSS).

    python bench/soak.py [--duration 10m] [--load 0.7] [--capacity-seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report, _service

MiB = 2**20


def seconds(text: str) -> float:
    """'600', '20s', '10m', '1h' → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 20s, 10m)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass
class Sample:
    at: float
    rss_main: int
    rss_workers: int

    @property
    def total(self) -> int:
        return self.rss_main + self.rss_workers


@dataclass
class Soak:
    capacity: float
    capacity_p99_ms: float
    target_rate: float
    duration: float
    answers: list[tuple[float, float, bool]] = field(default_factory=list)  # (sent at, s, ok)
    errors: collections.Counter = field(default_factory=collections.Counter)
    samples: list[Sample] = field(default_factory=list)
    shed: int = 0

    def latencies(self, start: float = 0.0, end: float = float("inf")) -> list[float]:
        return [1000 * s for at, s, ok in self.answers if ok and start <= at < end]


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than two points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in points) / var


async def _sample_rss(server: _service.Server, soak: Soak, start: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        main, workers = await asyncio.to_thread(server.rss)
        soak.samples.append(Sample(time.monotonic() - start, main, workers))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _soak(workspace: _service.Workspace, server: _service.Server, *, duration: float,
                load: float, capacity_seconds: float, concurrency: int) -> Soak:
    sirens = [a.siren for a in workspace.agents]
    async with _service.clients(workspace, server.api_url, connections=concurrency) as pool:
        # Capacity: closed loop, `concurrency` in flight, for `capacity_seconds`.
        probe = _service.stream(sirens, tag="C")
        warm = list(itertools.islice(probe, concurrency))
        await _service.closed_loop(pool, warm, concurrency)  # connections, workers, caches
        answers: list[_service.Answer] = []
        cursor = probe
        started = time.perf_counter()

        async def probe_worker() -> None:
            for sub in cursor:
                if time.perf_counter() - started > capacity_seconds:
                    return
                answers.append(await pool.submit(sub))

        await asyncio.gather(*(probe_worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        good = [a for a in answers if a.acknowledged]
        capacity = len(good) / elapsed
        soak = Soak(capacity, _report.percentile([1000 * a.seconds for a in good], 99),
                    load * capacity, duration)

        # The soak: one submission every 1/rate seconds, whatever the answers do.
        subs = _service.stream(sirens, tag="S")
        interval = 1 / soak.target_rate
        in_flight: set[asyncio.Task] = set()
        stop = asyncio.Event()
        start = time.monotonic()
        sampler = asyncio.create_task(_sample_rss(server, soak, start, stop))

        async def one(sub: _service.Submission, at: float) -> None:
            answer = await pool.submit(sub)
            ok = answer.acknowledged and (answer.body or {}).get("outcome") == "1-2"
            soak.answers.append((at, answer.seconds, ok))
            if not ok:
                soak.errors[f"{answer.status} {(answer.body or {}).get('code') or answer.error}"] += 1

        for i, sub in enumerate(subs):
            due = start + i * interval
            if due - start >= duration:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= 4 * concurrency:  # the server fell far behind: do not pile up
                soak.shed += 1
                continue
            task = asyncio.create_task(one(sub, due - start))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)
        stop.set()
        await sampler
        return soak


def run(*, duration: float = 600, load: float = 0.7, capacity_seconds: float = 20,
        concurrency: int = 16, agents: int = 4, flat_mib: float = 8) -> tuple[list[_report.Row], list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        workspace = _service.prepare(Path(tmp), agents=agents)
        server = _service.Server(workspace)
        try:
            soak = asyncio.run(_soak(workspace, server, duration=duration, load=load,
                                     capacity_seconds=capacity_seconds, concurrency=concurrency))
        finally:
            server.stop()
    return verdict(soak, flat_mib=flat_mib)


def verdict(soak: Soak, *, flat_mib: float) -> tuple[list[_report.Row], list[str]]:
    windows = max(1, min(20, int(soak.duration // 30) or 4))
    width = soak.duration / windows
    lines = [f"capacity {soak.capacity:.1f} sub/s (p99 {soak.capacity_p99_ms:.0f} ms); soak at "
             f"{soak.target_rate:.1f} sub/s for {soak.duration:.0f} s",
             f"{'window':>13} {'answers':>7} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} "
             f"{'RSS MiB':>8} {'workers':>8}"]
    for w in range(windows):
        lo, hi = w * width, (w + 1) * width
        inside = [a for a in soak.answers if lo <= a[0] < hi]
        lat = soak.latencies(lo, hi)
        rss = [s for s in soak.samples if lo <= s.at < hi] or soak.samples[-1:]
        lines.append(f"{lo:5.0f}–{hi:5.0f} s {len(inside):>7} {sum(not a[2] for a in inside):>6} "
                     f"{_report.percentile(lat, 50):>7.0f} {_report.percentile(lat, 99):>7.0f} "
                     f"{rss[-1].rss_main / MiB:>8.1f} {rss[-1].rss_workers / MiB:>8.1f}")
    half = [s for s in soak.samples if s.at >= soak.duration / 2]
    growth = {}
    for label, value in (("main", lambda s: s.rss_main), ("total", lambda s: s.total)):
        rate = slope([(s.at, value(s)) for s in half])  # bytes per second
        growth[label] = rate * (soak.duration / 2) / MiB
    reference = (half[0].total if half else 0) / MiB
    allowed = max(flat_mib, 0.05 * reference)
    # Memory of a server that answers every request with an error says nothing: the verdict
    # only stands when the second half was served without errors.
    failing = sum(1 for at, _, ok in soak.answers if not ok and at >= soak.duration / 2)
    flat = growth["main"] <= allowed and growth["total"] <= allowed and not failing
    errors = sum(soak.errors.values())
    ok_count = sum(1 for a in soak.answers if a[2])
    achieved = ok_count / soak.duration
    latencies = soak.latencies()
    lines.append(f"RSS growth projected over the second half: main {growth['main']:+.1f} MiB, "
                 f"with workers {growth['total']:+.1f} MiB (allowed {allowed:.1f}) → "
                 f"{'flat' if flat else 'void (errors)' if failing else 'GROWING'}; "
                 f"errors {errors} {dict(soak.errors)}; "
                 f"shed {soak.shed}")
    detail = {"capacity": round(soak.capacity, 1), "target_rate": round(soak.target_rate, 1),
              "achieved_rate": round(achieved, 1), "duration_s": soak.duration,
              "errors": dict(soak.errors), "shed": soak.shed,
              "rss_mib_first_last": [round(soak.samples[0].total / MiB, 1),
                                     round(soak.samples[-1].total / MiB, 1)] if soak.samples else [],
              "rss_growth_second_half_mib": {k: round(v, 2) for k, v in growth.items()}}
    rows = [
        _report.Row(f"soak: errors at {soak.target_rate:.0f} sub/s ({soak.duration:.0f} s)",
                    errors + soak.shed, "errors", target="0", passed=errors + soak.shed == 0,
                    detail=detail),
        _report.Row("soak: achieved vs measured capacity", achieved, "sub/s",
                    baseline=soak.capacity, baseline_label="capacity",
                    target="≈ 0.70×", passed=achieved >= 0.9 * soak.target_rate),
        _report.Row("soak: latency p99 at 70% load", _report.percentile(latencies, 99), "ms",
                    baseline=soak.capacity_p99_ms, baseline_label="p99 at capacity",
                    detail={"p50": _report.percentile(latencies, 50)}),
        _report.Row("soak: server RSS growth, 2nd half", growth["total"], "MiB",
                    baseline=reference, baseline_label="RSS at half time",
                    target=f"flat (≤ {allowed:.0f} MiB), no errors", passed=flat,
                    detail={"second_half_errors": failing}),
    ]
    return rows, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=seconds, default=600.0, help="e.g. 20s, 10m")
    parser.add_argument("--load", type=float, default=0.7, help="fraction of measured capacity")
    parser.add_argument("--capacity-seconds", type=seconds, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--flat-mib", type=float, default=8.0,
                        help="RSS growth over the second half still called flat")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows, lines = run(duration=args.duration, load=args.load,
                      capacity_seconds=args.capacity_seconds, concurrency=args.concurrency,
                      agents=args.agents, flat_mib=args.flat_mib)
    if not args.json:
        print("\n".join(lines))
    return _report.emit(rows, json_output=args.json, title="soak")


if __name__ == "__main__":
    sys.exit(main())
