"""`operator-sim collectivite add|list|resilier` on a data folder, as a préfecture's admin runs
them, and what the intake then lets through."""

from __future__ import annotations

import json

from click.testing import CliRunner

from operator_sim.cli import main
from operator_sim.store import SqliteStore


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_add_list_and_terminate_a_convention(tmp_path):
    data = str(tmp_path / "data")
    added = run("collectivite", "add", "--data-dir", data, "--siren", "213400005",
                "--nom", "Commune nouvelle", "--departement", "034", "--arrondissement", "3",
                "--date-signature", "2024-01-15", "--matiere", "5", "--matiere", "7.1",
                "--no-budget", "--profil", "lenient")
    assert added.exit_code == 0, added.output
    assert "convention 1: 213400005 via SLO" in added.output
    with SqliteStore.open(data) as store:
        collectivite = store.get_collectivite("213400005")
        assert (collectivite.nom, collectivite.departement, collectivite.profil) == (
            "Commune nouvelle", "034", "lenient")
        (convention,) = store.conventions("213400005")
    assert (convention.matieres, convention.actes_budgetaires) == (("5", "7.1"), False)

    listed = run("collectivite", "list", "--data-dir", data, "--json")
    assert json.loads(listed.output)[0]["matieres"] == ["5", "7.1"]
    ended = run("collectivite", "resilier", "--data-dir", data, "1", "--date", "2024-06-30")
    assert ended.exit_code == 0 and "résiliée le 2024-06-30" in ended.output
    assert "resiliee résiliée le 2024-06-30" in run("collectivite", "list", "--data-dir",
                                                    data).output
    # Correcting the IDCL keeps the profile set before when --profil is left out.
    again = run("collectivite", "add", "--data-dir", data, "--siren", "213400005",
                "--nom", "Commune nouvelle", "--departement", "034", "--arrondissement", "2",
                "--no-convention")
    assert again.exit_code == 0, again.output
    with SqliteStore.open(data) as store:
        assert store.get_collectivite("213400005").profil == "lenient"
        assert len(store.conventions("213400005")) == 1


def test_a_wrong_field_is_a_usage_error_naming_the_option(tmp_path):
    data = str(tmp_path / "data")
    for args, option in (
            (("--departement", "096"), "--departement"),
            (("--departement", "034", "--matiere", "7,1"), "--matiere"),
            (("--departement", "034", "--operateur", "slo"), "--operateur"),
            (("--departement", "034", "--date-signature", "2024-02-30"), "--date-signature")):
        result = CliRunner().invoke(main, ["collectivite", "add", "--data-dir", data, "--siren",
                                           "213400005", "--nom", "X", *args])
        assert result.exit_code == 2 and option in result.output, (args, result.output)
    with SqliteStore.open(data) as store:
        assert store.conventions() == [] and store.collectivites() == []
    missing = CliRunner().invoke(main, ["collectivite", "resilier", "--data-dir", data, "7"])
    assert missing.exit_code == 2 and "no convention 7" in missing.output
