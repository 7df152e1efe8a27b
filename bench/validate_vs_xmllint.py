"""Benchmark: `operator-sim validate` on N envelopes vs a per-file `xmllint --schema` loop.

Both run on this machine, in the same run, on the same generated envelopes. The baseline is
what a shell script does without the simulator: unpack each envelope (`tar -xzf`) and run
`xmllint --noout --schema` on each XML file it holds (the budget XSD for budget documents).
It only checks schemas; our CLI does everything (safe unpacking, names, schemas, profiles,
business rules, document checks), Python start-up and schema compilation included.
Target: ratio >= 20.

    python bench/validate_vs_xmllint.py [--count 1000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from operator_sim.validation import corpus
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
    args = parser.parse_args()
    if shutil.which("xmllint") is None:
        print("xmllint not found (apt-get install libxml2-utils)", file=sys.stderr)
        return 2
    cli = Path(sys.executable).parent / "operator-sim"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "env").mkdir()
        (root / "xml").mkdir()
        archives = make_envelopes(root / "env", args.count)

        start = time.perf_counter()
        proc = subprocess.run([str(cli), "validate", "--format", "json", "--no-progress",
                               "--jobs", str(args.jobs), str(root / "env")],
                              capture_output=True, text=True)
        ours = time.perf_counter() - start
        summary = json.loads(proc.stdout)["summary"]

        start = time.perf_counter()
        files, failed = xmllint_loop(archives, root / "xml")
        baseline = time.perf_counter() - start

    rows = [
        ("operator-sim validate (full checks)", args.count, ours, ours / args.count * 1000),
        (f"tar + xmllint --schema loop ({files} XML files)", args.count, baseline,
         baseline / args.count * 1000),
    ]
    print(f"{'what':45} {'envelopes':>9} {'seconds':>8} {'ms/envelope':>12}")
    for what, n, secs, per in rows:
        print(f"{what:45} {n:9d} {secs:8.2f} {per:12.2f}")
    print(f"valid/invalid by operator-sim: {summary['valid']}/{summary['invalid']}; "
          f"xmllint schema failures: {failed}")
    ratio = baseline / ours
    print(f"ratio (xmllint loop / operator-sim): {ratio:.1f}x  (target >= 20x)")
    return 0 if ratio >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
