"""`operator-sim pilotage` on a data folder: import, deposits, the report as table, CSV, JSON."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from tests.pilotage import scenario

FIXTURE = Path(__file__).parents[2] / "fixtures" / "pilotage" / "collectivites-val-de-loirette.csv"
PERIOD = ["--du", str(scenario.DU), "--au", str(scenario.AU), "--inactivite",
          str(scenario.INACTIVITE)]


OPERATOR_SIM = Path(sys.executable).with_name("operator-sim")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, in its own process."""
    return subprocess.run([str(OPERATOR_SIM), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_report_from_the_command_line_matches_the_hand_computed_figures(tmp_path):
    scenario.build(tmp_path).close()
    data = ["--data-dir", str(tmp_path)]
    report = json.loads(cli("pilotage", "rapport", *data, *PERIOD, "--format", "json").stdout)
    got = {c["siren"]: c for c in report["collectivites"]}
    for siren, expected in scenario.EXPECTED.items():
        assert {k: got[siren][k] for k in expected} == expected, siren
    done = cli("pilotage", "rapport", *data, *PERIOD, "--format", "csv", "--liste", "partielles")
    assert [(r["siren"], r["raison"]) for r in csv.DictReader(io.StringIO(done.stdout),
                                                               delimiter=";")] == [
        (scenario.D, scenario.EXPECTED[scenario.D]["raisons"]["partielles"])]
    table = cli("pilotage", "rapport", *data, *PERIOD).stdout.splitlines()
    assert table[0].split()[:3] == ["siren", "nom", "arrondissement"]
    assert any(line.startswith(scenario.D) and "0.3333" in line for line in table)


def test_import_is_idempotent_and_a_bad_file_stores_nothing(tmp_path):
    data = ["--data-dir", str(tmp_path)]
    done = cli("pilotage", "import", *data, "--departement", "034", str(FIXTURE))
    assert (done.returncode, done.stdout.strip()) == (0, "28 created, 0 updated, 0 unchanged")
    done = cli("pilotage", "import", *data, str(FIXTURE))
    assert done.stdout.strip() == "0 created, 0 updated, 28 unchanged"
    bad = tmp_path / "bad.csv"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").replace(";commune;", ";hameau;", 1)
                   .replace("Département du Val", "Département du Haut-Val"), encoding="utf-8")
    done = cli("pilotage", "import", *data, str(bad))
    assert done.returncode == 1 and "line 8, nature: unknown nature 'hameau'" in done.stderr
    assert "nothing stored" in done.stderr
    listed = json.loads(cli("pilotage", "rapport", *data, "--format", "json").stdout)
    assert "Département du Val-de-Loirette" in {c["nom"] for c in listed["collectivites"]}

    depots = tmp_path / "depots.csv"
    siren = FIXTURE.read_text(encoding="utf-8").splitlines()[1].split(";")[0]
    depots.write_text(f"date;siren;nature;matiere;nombre\n2025-03-01;{siren};DE;1.1;3\n"
                      "2025-03-01;732829320;DE;1.1;3\n")
    done = cli("pilotage", "depots", *data, str(depots))
    assert done.returncode == 1 and "line 3, siren: unknown SIREN" in done.stderr
    depots.write_text(f"date;siren;nature;matiere;nombre\n2025-03-01;{siren};DE;1.1;3\n")
    assert cli("pilotage", "depots", *data, str(depots)).stdout.strip() == \
        "1 deposit line(s), 3 act(s) recorded"
