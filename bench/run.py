"""Every benchmark in one run, one table: our figure, the baseline measured in the same run, ratio.

Issue 18's rows first: end to end over mTLS A/B against `--against` (default: 1e65379, the
commit the issue measured), with the primitive and CPU-only ceilings (`e2e.py`); CMS
verification vs an `openssl cms -verify` loop (`cms_verify.py`); an envelope with three signed
files vs unsigned (`signed_envelope.py`); start-up of `operator-sim serve` and of the pytest
plugin's first test, also A/B (`startup.py`); the power-loss check by fsync accounting
(`power_loss.py`); SIGKILLs under load (`crash.py`); storage growth to 1 M transactions
(`storage_growth.py`); a 100 MB archive with bounded memory (`big_archive.py`); the soak
(`soak.py`). Then the validator vs a tar + xmllint loop (`validate_vs_xmllint.py`) and the TSA
vs `openssl ts -reply` (`tsa_vs_openssl.py`). The scripts that print their own text are run
as subprocesses and their figures read from their output.

    python bench/run.py [--quick] [--only e2e,tsa,...] [--against COMMIT|none] [--json]

`--quick` is the CI size (storage 100 K, soak 20 s, 300 crash submissions, …); the default is
the full size (storage 1 M, soak 10 min, 3,000 crash submissions: about an hour on 2 cores).
Exit status 1 when any row misses its target.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _report, big_archive, crash, e2e, power_loss, signed_envelope, soak, startup, storage_growth

HERE = Path(__file__).resolve().parent
Row = _report.Row
BASELINE = "1e65379"  # main when issue 18 was measured


def _script(name: str, *args: str, timeout: float = 3600) -> str:
    """Run another bench script with this interpreter; its stdout (stderr appended on failure)."""
    done = subprocess.run([sys.executable, str(HERE / name), *args], capture_output=True,
                          text=True, timeout=timeout)
    if not done.stdout.strip():
        raise RuntimeError(f"{name} printed nothing (exit {done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no match for {pattern!r} in:\n{text[-2000:]}")
    return float(match.group(1).replace(",", ""))


def validate_rows(quick: bool) -> list[Row]:
    # The same count in both modes: the CLI's start-up (interpreter, schemas) is a fixed cost
    # the target was set over 1000 envelopes with; over 200 it is most of the run. The row
    # takes about 15 s either way.
    count = 1000
    out = _script("validate_vs_xmllint.py", "--count", str(count))
    ours = _number(r"^operator-sim validate.*?([\d.]+)\s*$", out)
    base = _number(r"^tar \+ xmllint.*?([\d.]+)\s*$", out)
    ratio = _number(r"ratio[^:\n]*:\s*([\d.]+)\s*x", out)
    return [Row(f"validator, {count} envelopes (CLI, all checks)", 1000 / ours, "env/s",
                baseline=1000 / base, baseline_label="tar + xmllint --schema per file",
                target="≥ 20×", passed=ratio >= 20, detail={"output": out.strip().splitlines()})]


def tsa_rows(quick: bool) -> list[Row]:
    args = ["--tokens", "1000", "--openssl-runs", "30"] if quick else []
    out = _script("tsa_vs_openssl.py", *args)
    rates = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(
        r"^(.+?)\s+\d+\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s*$", out, re.MULTILINE)}
    base = next(v for k, v in rates.items() if k.startswith("openssl"))
    http = next(v for k, v in rates.items() if k.startswith("POST /tsa"))
    local = next(v for k, v in rates.items() if k.startswith("stamp_digest"))
    detail = {"output": out.strip().splitlines()}
    return [Row("TSA over HTTP (POST /tsa, keep-alive)", http, "tokens/s", baseline=base,
                baseline_label="openssl ts -reply", target="≥ 10×", passed=http / base >= 10,
                detail=detail),
            Row("TSA in process (stamp_digest)", local, "tokens/s", baseline=base,
                baseline_label="openssl ts -reply")]


def cms_rows(quick: bool) -> list[Row]:
    out = _script("cms_verify.py", "--seconds", "3" if quick else "10")
    ours = _number(r"^operator-sim verify_detached.*?([\d.]+)\s*$", out)
    base = _number(r"^openssl cms -verify.*?([\d.]+)\s*$", out)
    return [Row("CMS verify (pinned trust + CRL)", ours, "sig/s", baseline=base,
                baseline_label="openssl cms -verify", target="≥ 10×", passed=ours / base >= 10,
                detail={"output": out.strip().splitlines()})]


def e2e_rows(quick: bool, against: str | None) -> list[Row]:
    return e2e.run(count=600 if quick else 2000, lone=100 if quick else 200,
                   ceiling_count=100 if quick else 200, against=against)


def signed_rows(quick: bool) -> list[Row]:
    return signed_envelope.run(count=40 if quick else 160)


def startup_rows(quick: bool, against: str | None) -> list[Row]:
    return startup.run(runs=3 if quick else 5, against=against)


def power_rows(quick: bool) -> list[Row]:
    rows, verdict = power_loss.run(count=20 if quick else 60)
    for problem in verdict.problems[:10]:
        print(problem, file=sys.stderr)
    return rows


def storage_rows(quick: bool, size: int | None) -> list[Row]:
    rows, _ = storage_growth.run(size=size or (100_000 if quick else 1_000_000),
                                 log=lambda *a: print(*a, file=sys.stderr))
    return rows


def big_rows(quick: bool) -> list[Row]:
    return big_archive.run(size=30_000_000 if quick else 100_000_000)


def crash_rows(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        run = crash.run_crash(Path(tmp), count=300 if quick else 3000, kills=3 if quick else 6,
                              concurrency=16 if quick else 32,
                              log=lambda *a: print(*a, file=sys.stderr))
    return crash.rows(run)


def soak_rows(quick: bool, duration: float | None) -> list[Row]:
    rows, lines = soak.run(duration=duration or (20 if quick else 600),
                           capacity_seconds=4 if quick else 20)
    print("\n".join(lines), file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI sizes (a few minutes)")
    parser.add_argument("--only", help="comma-separated: e2e,cms,signed,startup,power,crash,"
                        "storage,big,soak,validate,tsa")
    parser.add_argument("--against", default=BASELINE,
                        help=f"commit for the A/B rows (default {BASELINE}; none: no A/B)")
    parser.add_argument("--storage-size", type=int, help="final transaction count (default 1 M)")
    parser.add_argument("--soak-duration", type=soak.seconds, help="default 10m (20s with --quick)")
    parser.add_argument("--json", action="store_true", help="JSON (machine + rows) on stdout")
    parser.add_argument("--json-file", type=Path, help="also write the JSON there")
    args = parser.parse_args()
    against = None if args.against.lower() == "none" else args.against
    benches: dict[str, Callable[[], list[Row]]] = {
        "e2e": lambda: e2e_rows(args.quick, against),
        "cms": lambda: cms_rows(args.quick),
        "signed": lambda: signed_rows(args.quick),
        "startup": lambda: startup_rows(args.quick, against),
        "power": lambda: power_rows(args.quick),
        "crash": lambda: crash_rows(args.quick),
        "storage": lambda: storage_rows(args.quick, args.storage_size),
        "big": lambda: big_rows(args.quick),
        "soak": lambda: soak_rows(args.quick, args.soak_duration),
        "validate": lambda: validate_rows(args.quick),
        "tsa": lambda: tsa_rows(args.quick),
    }
    chosen = args.only.split(",") if args.only else list(benches)
    unknown = set(chosen) - set(benches)
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    for name in chosen:
        start = time.monotonic()
        print(f"[{time.strftime('%H:%M:%S')}] {name} …", file=sys.stderr, flush=True)
        try:
            got = benches[name]()
        except Exception as exc:  # one broken bench must not hide the others' figures
            traceback.print_exc()
            got = [Row(f"{name}: did not run", 0, "", target="runs", passed=False,
                       detail={"error": f"{type(exc).__name__}: {exc}"})]
        rows.extend(got)
        print(f"[{time.strftime('%H:%M:%S')}] {name} done in {time.monotonic() - start:.0f} s: "
              + "; ".join(f"{r.name} = {r.ours:.4g} {r.unit}" for r in got), file=sys.stderr,
              flush=True)
    if args.json_file:
        args.json_file.write_text(_report.as_json(rows) + "\n")
    return _report.emit(rows, json_output=args.json, title="operator-sim benchmarks")


if __name__ == "__main__":
    sys.exit(main())
