"""Benchmark: start-up. `operator-sim serve` on an existing PKI until its first successful
mutual-TLS request, and the pytest plugin's first test (a fresh interpreter running one test
that asks for the `operator_sim` fixture), each the median of `--runs` turns.

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
FIRST_TEST = '''import pytest


@pytest.mark.asyncio
async def test_first(operator_sim):
    assert operator_sim.api_url.startswith("https://")
'''


def ready_seconds(workspace: _service.Workspace, checkout: Path) -> float:
    """From starting `operator-sim serve` to the first answered request over mutual TLS."""
    agent = workspace.agents[0]
    context = ssl.create_default_context(cafile=str(workspace.roots))
    context.load_cert_chain(agent.certificate, agent.key)
    server = _service.Server(workspace, checkout=checkout)
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
                return time.monotonic() - server.started
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
    finally:
        server.stop()


def first_test_seconds(folder: Path, checkout: Path) -> float:
    """A fresh `python -m pytest` running one test that uses the plugin's fixture."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_first.py").write_text(FIRST_TEST)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_first.py"], cwd=folder, env=_service.checkout_env(checkout),
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if done.returncode:
        raise RuntimeError(f"the plugin's first test failed:\n{done.stdout[-3000:]}")
    return seconds


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
        ready: list[list[float]] = [[] for _ in checkouts]
        first: list[list[float]] = [[] for _ in checkouts]
        load_before = os.getloadavg()
        for turn in range(runs):
            for i, (_, checkout) in enumerate(checkouts):
                ready[i].append(ready_seconds(workspaces[i], checkout))
                first[i].append(first_test_seconds(root / f"pytest-{i}-{turn}", checkout))
        load_after = os.getloadavg()
    label = checkouts[1][0] if against else ""
    detail = {"runs": {name: {"ready_s": [round(x, 3) for x in ready[i]],
                              "first_test_s": [round(x, 3) for x in first[i]]}
                       for i, (name, _) in enumerate(checkouts)},
              "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)]}
    ours_ready, ours_first = statistics.median(ready[0]), statistics.median(first[0])
    base = {"baseline_label": label} if against else {}
    return [
        _report.Row("start-up: `operator-sim serve` ready (existing PKI, first mTLS answer), "
                    "median", ours_ready, "s",
                    baseline=statistics.median(ready[1]) if against else None, **base,
                    target=f"≤ {READY_TARGET:g} s", passed=ours_ready <= READY_TARGET,
                    detail=detail),
        _report.Row("start-up: pytest plugin's first test (fresh interpreter), median",
                    ours_first, "s", baseline=statistics.median(first[1]) if against else None,
                    **base, target=f"≤ {FIRST_TEST_TARGET:g} s",
                    passed=ours_first <= FIRST_TEST_TARGET),
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
