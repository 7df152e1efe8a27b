"""Benchmark: `operator-sim validate` on N envelopes vs a per-file `xmllint --schema` loop.

Both run in this process's machine, in the same run, on the same generated envelopes. The
baseline only schema-checks the XML parts (already extracted, extraction not timed); our CLI
does everything (unpack safely, names, schemas, profiles, business rules, document checks),
Python start-up and schema compilation included. Target: ratio >= 20.

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

from operator_sim.protocol.archive import read_archive
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


def extract_xml(archives: list[Path], folder: Path) -> list[tuple[Path, Path]]:
    """(xml file, schema) pairs for the baseline."""
    pairs = []
    for i, path in enumerate(archives):
        with read_archive(path) as archive:
            for member in archive:
                if member.name.endswith(".xml"):
                    out = folder / f"{i:05d}-{member.name}"
                    out.write_bytes(member.read())
                    xsd = BUDGET_XSD if b"docbudgetaire" in member.head(400) else ACTES_XSD
                    pairs.append((out, xsd))
    return pairs


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
        pairs = extract_xml(archives, root / "xml")

        start = time.perf_counter()
        proc = subprocess.run([str(cli), "validate", "--format", "json", "--no-progress",
                               "--jobs", str(args.jobs), str(root / "env")],
                              capture_output=True, text=True)
        ours = time.perf_counter() - start
        summary = json.loads(proc.stdout)["summary"]

        start = time.perf_counter()
        failed = 0
        for xml, xsd in pairs:
            done = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(xsd), str(xml)],
                                  capture_output=True)
            failed += done.returncode != 0
        baseline = time.perf_counter() - start

    rows = [
        ("operator-sim validate (full checks)", args.count, ours, ours / args.count * 1000),
        (f"xmllint --schema loop ({len(pairs)} XML files)", args.count, baseline,
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
