"""Benchmark: start-up. `operator-sim serve` on an existing PKI until its first successful
mutual-TLS request, and the pytest plugin's first test (a fresh interpreter running one test
that asks for the `operator_sim` fixture), each the median of `--runs` turns. The package's
bytecode is compiled first (`compileall`), as an installed package has it, so that an
environment with PYTHONDONTWRITEBYTECODE does not time the compiler.

With `--against <commit>` the same is measured, in turns, for that commit (a temporary git
worktree first on PYTHONPATH, as in `e2e.py`). Targets (issue 18): ready in ≤ 1 s, first test
in ≤ 2 s.

    python bench/startup.py [--runs 5] [--against 1e65379]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report, _service, e2e

READY_TARGET, FIRST_TEST_TARGET = 1.0, 2.0
BYTECODE = {"PYTHONDONTWRITEBYTECODE": ""}
"""Bytecode written and read as an installed package's is, even where the environment turns
it off: otherwise every turn compiles the modules changed since the last cached bytecode, and
the figure measures the compiler (0.2-0.5 s of it) rather than the start-up. The first of the
turns writes it; the medians are of all turns."""
FIRST_TEST = '''import pytest


@pytest.mark.asyncio
async def test_first(operator_sim):
    assert operator_sim.api_url.startswith("https://")
'''


def ready_seconds(workspace: _service.Workspace, checkout: Path) -> tuple[float, float]:
    """From starting `operator-sim serve` to the first answered request over mutual TLS: wall
    clock, and the CPU the service's processes spent until then (what load does not change)."""
    agent = workspace.agents[0]
    context = ssl.create_default_context(cafile=str(workspace.roots))
    context.load_cert_chain(agent.certificate, agent.key)
    server = _service.Server(workspace, checkout=checkout, env=BYTECODE)
    try:
        url = urlsplit(server.api_url)
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPSConnection(url.hostname, url.port, context=context,
                                                         timeout=10)
                connection.request("GET", e2e.TRIVIAL)
                connection.getresponse().read()
                connection.close()
                return time.monotonic() - server.started, _service.tree_cpu(server.pid)
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
    finally:
        server.stop()


def first_test_seconds(folder: Path, checkout: Path) -> tuple[float, float]:
    """A fresh `python -m pytest` running one test that uses the plugin's fixture: wall clock
    and CPU (the interpreter and what it waited for)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_first.py").write_text(FIRST_TEST)
    start, cpu = time.monotonic(), _children_cpu()
    # Its own --basetemp: pytest's default is the machine's shared /tmp/pytest-of-<user>,
    # which other jobs fill and which each session prunes (the likely cause of turns of 77 s
    # and 96 s of wall clock for 6-8 s of CPU in this bench before).
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--basetemp={folder / 'tmp'}", "test_first.py"], cwd=folder,
                          env={**_service.checkout_env(checkout), **BYTECODE},
                          capture_output=True, text=True, check=False)
    seconds, cpu = time.monotonic() - start, _children_cpu() - cpu
    if done.returncode:
        raise RuntimeError(f"the plugin's first test failed:\n{done.stdout[-3000:]}")
    return seconds, cpu


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run(*, runs: int = 5, against: str | None = None) -> list[_report.Row]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        checkouts = [("this tree", e2e.REPO)]
        if against:
            checkouts.append((f"main at {against[:7]}", stack.enter_context(
                e2e.checked_out(against, root / "checkout"))))
        workspaces = [_service.prepare_in(checkout, root / f"service-{i}", agents=1)
                      for i, (_, checkout) in enumerate(checkouts)]
        for _, checkout in checkouts:  # bytecode cached, as an installed package has it (even
            subprocess.run([sys.executable, "-m", "compileall", "-q",  # PYTHONDONTWRITEBYTECODE)
                            str(checkout / "operator_sim")], check=True)
        ready: list[list[tuple[float, float]]] = [[] for _ in checkouts]
        first: list[list[tuple[float, float]]] = [[] for _ in checkouts]
        load_before = os.getloadavg()
        for turn in range(runs):
            for i, (_, checkout) in enumerate(checkouts):
                ready[i].append(ready_seconds(workspaces[i], checkout))
                first[i].append(first_test_seconds(root / f"pytest-{i}-{turn}", checkout))
        load_after = os.getloadavg()
    label = checkouts[1][0] if against else ""
    def median(runs: list[tuple[float, float]], which: int = 0) -> float:
        return statistics.median(run[which] for run in runs)

    detail = {"runs": {name: {"ready_wall_cpu_s": [[round(x, 3) for x in r] for r in ready[i]],
                              "first_test_wall_cpu_s": [[round(x, 3) for x in r]
                                                        for r in first[i]],
                              "median_ready_cpu_s": round(median(ready[i], 1), 3),
                              "median_first_test_cpu_s": round(median(first[i], 1), 3)}
                       for i, (name, _) in enumerate(checkouts)},
              "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)]}
    ours_ready, ours_first = median(ready[0]), median(first[0])
    base = {"baseline_label": label} if against else {}
    return [
        _report.Row("start-up: `operator-sim serve` ready (existing PKI, first mTLS answer), "
                    "median", ours_ready, "s",
                    baseline=median(ready[1]) if against else None, **base,
                    target=f"≤ {READY_TARGET:g} s", passed=ours_ready <= READY_TARGET,
                    detail=detail),
        _report.Row("start-up: pytest plugin's first test (fresh interpreter), median",
                    ours_first, "s", baseline=median(first[1]) if against else None,
                    **base, target=f"≤ {FIRST_TEST_TARGET:g} s",
                    passed=ours_first <= FIRST_TEST_TARGET),
        _report.Row("start-up: CPU of the service until ready (whole process tree), median",
                    median(ready[0], 1), "s", baseline=median(ready[1], 1) if against else None,
                    **base),
        _report.Row("start-up: CPU of the pytest run with its first test, median",
                    median(first[0], 1), "s", baseline=median(first[1], 1) if against else None,
                    **base),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="turns of each measure")
    parser.add_argument("--against", metavar="COMMIT", help="also measure this commit")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    args = parser.parse_args()
    rows = run(runs=args.runs, against=args.against)
    status = _report.emit(rows, json_output=args.json, title="start-up")
    if not args.json:
        print(rows[0].detail)
    return status


if __name__ == "__main__":
    sys.exit(main())
