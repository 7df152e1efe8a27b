"""A 100 MB archive through the API with bounded server memory.

Builds a valid act whose PDF carries `--size` incompressible bytes (so the .tar.gz is that big),
streams it to a running `operator-sim serve` over mutual TLS, then downloads it back, while a
thread samples the RSS of the server and of its validation workers every 20 ms. Baseline: the
archive's own size. Target: the server's peak RSS growth (main process + workers) under a
quarter of the archive — the upload is streamed to disk, never held whole.

    python bench/big_archive.py [--size 100000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report, _service

MiB = 2**20
TARGET = 0.25  # peak growth / archive size


class Sampler(threading.Thread):
    """Peak RSS of the server and its workers, sampled until stopped."""

    def __init__(self, server: _service.Server, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.server, self.every = server, every
        self.peak_main = self.peak_workers = self.peak_total = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            main, workers = self.server.rss()
            self.peak_main = max(self.peak_main, main)
            self.peak_workers = max(self.peak_workers, workers)
            self.peak_total = max(self.peak_total, main + workers)
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


async def _warm_up(workspace: _service.Workspace, server: _service.Server) -> None:
    """Start the validation workers (two small acts at once): their start is not growth."""
    async with _service.clients(workspace, server.api_url, connections=2) as pool:
        warm = _service.submissions([workspace.agents[0].siren], 4, tag="W")
        await asyncio.gather(*(pool.submit(s) for s in warm))


async def _exchange(workspace: _service.Workspace, server: _service.Server, name: str,
                    path: Path) -> tuple[int, dict, float, str, float]:
    agent = workspace.agents[0]
    async with _service.clients(workspace, server.api_url, connections=2, timeout=900) as pool:
        http = pool.session(agent.siren)
        start = time.perf_counter()
        with path.open("rb") as body:
            async with http.post("/api/v1/archives", params={"name": name}, data=body,
                                 headers={"Content-Type": "application/gzip"}) as response:
                status, answer = response.status, await response.json(content_type=None)
        accepted = time.perf_counter() - start
        digest = hashlib.sha256()
        start = time.perf_counter()
        if status == 201:
            tid = answer["transaction"]["id"]
            async with http.get(f"/api/v1/transactions/{tid}/archive") as response:
                async for chunk in response.content.iter_chunked(1 << 20):
                    digest.update(chunk)
        return status, answer, accepted, digest.hexdigest(), time.perf_counter() - start


def run(*, size: int = 100_000_000) -> list[_report.Row]:
    with tempfile.TemporaryDirectory(prefix="bench-big-") as tmp:
        root = Path(tmp)
        workspace = _service.prepare(root / "service", agents=1)
        (root / "envelope").mkdir()
        name, path = _service.big_envelope(root / "envelope", size, workspace.agents[0].siren)
        archive_size = path.stat().st_size
        with path.open("rb") as handle:
            sent_sha = hashlib.file_digest(handle, "sha256").hexdigest()
        server = _service.Server(workspace)
        try:
            asyncio.run(_warm_up(workspace, server))
            before_main, before_workers = server.rss()
            sampler = Sampler(server)
            sampler.start()
            try:
                status, answer, accepted, got_sha, downloaded = asyncio.run(
                    _exchange(workspace, server, name, path))
            finally:
                sampler.stop()
            after_main, after_workers = server.rss()
        finally:
            server.stop()
    growth_main = sampler.peak_main - before_main
    growth_total = sampler.peak_total - before_main - before_workers
    ok = status == 201 and answer.get("outcome") == "1-2" and got_sha == sent_sha
    detail = {"status": status, "outcome": answer.get("outcome"),
              "code": answer.get("code"), "archive_bytes": archive_size,
              "accept_seconds": round(accepted, 2), "download_seconds": round(downloaded, 2),
              "download_identical": got_sha == sent_sha,
              "rss_mib_before": [round(before_main / MiB, 1), round(before_workers / MiB, 1)],
              "rss_mib_peak": [round(sampler.peak_main / MiB, 1),
                               round(sampler.peak_workers / MiB, 1)],
              "rss_mib_after": [round(after_main / MiB, 1), round(after_workers / MiB, 1)],
              "peak_growth_mib_main": round(growth_main / MiB, 1),
              "peak_growth_mib_workers": round((sampler.peak_workers - before_workers) / MiB, 1)}
    return [
        _report.Row(f"{archive_size / 1e6:.0f} MB archive: server peak RSS growth (main + workers)",
                    growth_total / MiB, "MiB", baseline=archive_size / MiB,
                    baseline_label="archive size", target=f"≤ {TARGET:.2f}× size, 1-2, same bytes back",
                    passed=ok and growth_total <= TARGET * archive_size, detail=detail),
        _report.Row(f"{archive_size / 1e6:.0f} MB archive: API process alone", growth_main / MiB,
                    "MiB", baseline=archive_size / MiB, baseline_label="archive size",
                    target=f"≤ {TARGET:.2f}× size", passed=ok and growth_main <= TARGET * archive_size),
        _report.Row(f"{archive_size / 1e6:.0f} MB archive: accepted in", accepted, "s",
                    detail={"MB_per_s": round(archive_size / 1e6 / accepted, 1)}),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000_000, help="PDF bytes in the act")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(size=args.size)
    status = _report.emit(rows, json_output=args.json, title="big archive")
    if not args.json:
        print("detail:", rows[0].detail)
    return status


if __name__ == "__main__":
    sys.exit(main())
