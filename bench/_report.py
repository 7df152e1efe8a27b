"""One output shape for every benchmark: rows of (name, ours, baseline, ratio, target, verdict).

A bench builds `Row`s; `print_table` shows them with the machine they ran on, `as_json` gives
the same thing for CI and for the README. Also the small measuring helpers the benches share
(percentiles, machine facts). Never measures anything itself.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One figure of ours beside the baseline measured in the same run.

    `ratio` is ours / baseline unless the bench says otherwise (e.g. a slowdown factor);
    `passed` is None when the row has no target (an informative figure).
    """

    name: str
    ours: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline:
            self.ratio = self.ours / self.baseline


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    """Cores, CPU model, RAM, Python, and the load when the figures were taken."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        ram = int(first[1]) * 1024
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cores": os.cpu_count(), "cpu": model or platform.processor() or platform.machine(),
            "ram_gib": round(ram / 2**30, 1), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "load_1_5_15": [round(x, 2) for x in load],
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def machine_line(facts: dict[str, Any] | None = None) -> str:
    facts = facts or machine()
    load = "/".join(f"{x:.2f}" for x in facts["load_1_5_15"])
    return (f"{facts['cores']} cores ({facts['cpu']}), {facts['ram_gib']} GiB RAM, Python "
            f"{facts['python']}, {facts['system']}, load {load} at {facts['date']}")


def _figure(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(rows: Iterable[Row]) -> str:
    """A Markdown table (reads well in a terminal and pastes into the README as is)."""
    lines = ["| bench | ours | baseline (same run) | ratio | target | result |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        ours = f"{_figure(row.ours)} {row.unit}".strip()
        base = "—" if row.baseline is None else f"{_figure(row.baseline)} {row.unit}".strip()
        if row.baseline_label:
            base = f"{base} ({row.baseline_label})"
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        verdict = {True: "pass", False: "FAIL", None: "info"}[row.passed]
        lines.append(f"| {row.name} | {ours} | {base} | {ratio} | {row.target or '—'} | {verdict} |")
    return "\n".join(lines)


def as_json(rows: Iterable[Row], facts: dict[str, Any] | None = None) -> str:
    return json.dumps({"machine": facts or machine(), "rows": [asdict(r) for r in rows]},
                      indent=2, ensure_ascii=False, default=str)


def emit(rows: Sequence[Row], *, json_output: bool = False, title: str = "") -> int:
    """Print the rows (table + machine, or JSON) and return the exit status: 1 if any failed."""
    facts = machine()
    if json_output:
        print(as_json(rows, facts))
    else:
        if title:
            print(title)
        print(f"machine: {machine_line(facts)}")
        print(table(rows))
    sys.stdout.flush()
    return 1 if any(r.passed is False for r in rows) else 0
