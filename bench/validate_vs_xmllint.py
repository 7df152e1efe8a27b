"""Benchmark: `operator-sim validate` on N envelopes vs a per-file `xmllint --schema` loop.

Both run on this machine, in the same run, on the same generated envelopes. The baseline is
what a shell script does without the simulator: unpack each envelope (`tar -xzf`) and run
`xmllint --noout --schema` on each XML file it holds (the budget XSD for budget documents).
It only checks schemas; our CLI does everything (safe unpacking, names, schemas, profiles,
business rules, document checks), Python start-up and schema compilation included.
Target: ratio >= 20.

Both sides get one untimed warm-up run on the first envelope (programs, libraries and schemas
in the page cache), and the CLI runs with Python's bytecode cache allowed, in a folder of the
run, as on any installation: an environment with PYTHONDONTWRITEBYTECODE set would otherwise
make every timed run recompile the package from source.

The CLI's run lasts well under a second, the loop's many seconds: on a shared machine one short
run can land on a burst of load the long one averages out. So the CLI validates the whole set
`--runs` times, each run followed by one slice of the loop (the slices together: every envelope
once), and the ratio is the loop's total over the mean of the CLI runs, each of which is shown.

    python bench/validate_vs_xmllint.py [--count 1000] [--jobs 2] [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from operator_sim.testing import corpus
from operator_sim.validation.registry import SCHEMAS_DIR

ACTES_XSD = SCHEMAS_DIR / "actes" / "actes.xsd"
BUDGET_XSD = SCHEMAS_DIR / "profiles" / "budget" / "DocumentBudgetaire.xsd"


def make_envelopes(folder: Path, count: int) -> list[Path]:
    """Distinct envelopes: mostly valid acts of every profile, one in ten invalid."""
    kinds = [corpus.base_request(), corpus.budget_request(),
             corpus.base_request(codes_matiere=(9, 9)),  # unknown matière: invalid
             corpus.base_request(codes_matiere=(2, 1, 2), nature=corpus.NatureActe.AR,
                                 document=corpus.Piece(corpus.minimal_pdf("PLU"), "pdf", "99_AR"),
                                 annexes=(corpus.Piece(corpus.minimal_pdf("RP"), "pdf", "21_RP"),))]
    paths = []
    for i in range(count):
        kind = kinds[0 if i % 10 < 6 else 1 if i % 10 < 8 else 2 if i % 10 == 8 else 3]
        request = dataclasses.replace(kind, numero_interne=f"B{i:06d}")
        built = corpus.build(request, numero=1 + i % 9999)
        target = folder / f"{i:05d}"
        target.mkdir()
        paths.append(built.write(target))
    return paths


def xmllint_loop(archives: list[Path], folder: Path) -> tuple[int, int]:
    """The baseline: per envelope, tar -xzf then xmllint per XML file. (files, failures)."""
    files = failed = 0
    for i, path in enumerate(archives):
        target = folder / f"{i:05d}"
        target.mkdir()
        subprocess.run(["tar", "-xzf", str(path), "-C", str(target)], check=True)
        for xml in sorted(target.glob("*.xml")):
            xsd = BUDGET_XSD if b"docbudgetaire" in xml.read_bytes()[:400] else ACTES_XSD
            done = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(xsd),
                                   str(xml)], capture_output=True)
            files += 1
            failed += done.returncode != 0
    return files, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5,
                        help="timed CLI runs, interleaved with as many slices of the loop")
    args = parser.parse_args()
    if shutil.which("xmllint") is None:
        print("xmllint not found (apt-get install libxml2-utils)", file=sys.stderr)
        return 2
    cli = Path(sys.executable).parent / "operator-sim"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "env").mkdir()
        archives = make_envelopes(root / "env", args.count)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        command = [str(cli), "validate", "--format", "json", "--no-progress",
                   "--jobs", str(args.jobs)]
        subprocess.run([*command, str(archives[0])], capture_output=True, env=env)  # warm-up
        (root / "warm-up").mkdir()
        xmllint_loop(archives[:1], root / "warm-up")

        runs: list[float] = []
        baseline, files, failed = 0.0, 0, 0
        for k in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.run([*command, str(root / "env")], capture_output=True, text=True,
                                  env=env)
            runs.append(time.perf_counter() - start)
            summary = json.loads(proc.stdout)["summary"]

            part = archives[k * len(archives) // args.runs:(k + 1) * len(archives) // args.runs]
            (root / "xml" / str(k)).mkdir(parents=True)
            start = time.perf_counter()
            done, bad = xmllint_loop(part, root / "xml" / str(k))
            baseline += time.perf_counter() - start
            files, failed = files + done, failed + bad
        ours = statistics.fmean(runs)

    rows = [
        ("operator-sim validate (full checks, mean)", args.count, ours,
         ours / args.count * 1000),
        (f"tar + xmllint --schema loop ({files} XML files)", args.count, baseline,
         baseline / args.count * 1000),
    ]
    print(f"{'what':45} {'envelopes':>9} {'seconds':>8} {'ms/envelope':>12}")
    for what, n, secs, per in rows:
        print(f"{what:45} {n:9d} {secs:8.2f} {per:12.2f}")
    print(f"operator-sim runs (s): {' '.join(f'{run:.2f}' for run in runs)}  (mean above)")
    print(f"valid/invalid by operator-sim: {summary['valid']}/{summary['invalid']}; "
          f"xmllint schema failures: {failed}")
    ratio = baseline / ours
    print(f"ratio (xmllint loop / operator-sim): {ratio:.1f}x  (target >= 20x)")
    return 0 if ratio >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
