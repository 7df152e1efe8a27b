"""`operator-sim validate` and `operator-sim envelope build` as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from operator_sim.cli import main
from tests.hostile.corpus import CASES as HOSTILE_CASES
from tests.hostile.corpus import Material

from .conftest import FIXTURES

CASES = FIXTURES / "cases"
MATERIAL = FIXTURES / "material"


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)


def test_all_valid_exits_zero():
    result = run("validate", "--no-progress", CASES / "valid-default-deliberation")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK ")


def test_any_invalid_exits_one_and_names_the_code():
    result = run("validate", CASES / "valid-default-deliberation", CASES / "file-missing")
    assert result.exit_code == 1
    assert "FILE_MISSING" in result.output


@pytest.mark.parametrize("args", [
    ["validate", "/nonexistent/path"],
    ["validate"],
    ["validate", "--format", "yaml", CASES],
    ["validate", "--today", "yesterday", CASES],
    ["validate", "--classification", "2001-01-01", CASES],
])
def test_usage_errors_exit_two(args):
    assert run(*args).exit_code == 2


def test_folder_without_archives_is_a_usage_error(tmp_path):
    result = run("validate", tmp_path)
    assert result.exit_code == 2
    assert "no .tar.gz archive" in result.output


def test_json_report_lists_every_archive_with_its_findings(manifest):
    result = run("validate", "--format", "json", "--jobs", "2", CASES)
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["summary"]["archives"] == len(manifest)
    assert data["summary"]["valid"] == sum(e["valid"] for e in manifest)
    by_source = {r["source"].split("cases/")[1]: r for r in data["reports"]}
    for entry in manifest:
        report = by_source[entry["archive"]]
        assert report["valid"] is entry["valid"]
        if entry["code"]:
            assert report["findings"][0]["code"] == entry["code"]
            assert report["anomalie"]["nature"] == report["findings"][0]["anomalie_nature"]


def test_parallel_and_serial_runs_agree():
    serial = json.loads(run("validate", "--format", "json", "--jobs", "1", CASES).output)
    parallel = json.loads(run("validate", "--format", "json", "--jobs", "2", CASES).output)
    assert serial == parallel


def test_junit_report_is_xml_with_one_failure_per_invalid_archive(tmp_path, manifest):
    out = tmp_path / "report.xml"
    result = run("validate", "--format", "junit", "-o", out, CASES)
    assert result.exit_code == 1
    suite = ElementTree.parse(out).getroot()
    assert suite.tag == "testsuite"
    assert int(suite.get("tests")) == len(manifest)
    failures = suite.findall("testcase/failure")
    assert len(failures) == int(suite.get("failures")) == sum(not e["valid"] for e in manifest)
    assert {f.get("type") for f in failures} >= {"FILE_MISSING", "ARCHIVE_BOMB"}


def test_envelope_build_makes_an_archive_that_validates(tmp_path):
    result = run("envelope", "build", "--siren", "491011698", "--departement", "034",
                 "--date", "2024-05-02", "--numero", "DEL2024_30", "--nature", "DE",
                 "--matiere", "5.2", "--objet", "Désignation des délégués",
                 "--document", f"{MATERIAL / 'deliberation.pdf'}:99_DE",
                 "--annexe", MATERIAL / "annexe.pdf", "--annexe", f"{MATERIAL / 'plan.png'}:99_DE",
                 "--envelope-date", "2024-05-03", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    archive = tmp_path / "SLO-EACT--491011698--20240503-1.tar.gz"
    assert result.output.strip() == str(archive)
    check = run("validate", archive)
    assert check.exit_code == 0, check.output


def test_envelope_build_of_a_budget_document(tmp_path):
    result = run("envelope", "build", "--siren", "491011698", "--departement", "034",
                 "--date", "2024-03-12", "--numero", "BP2024", "--nature", "BF",
                 "--matiere", "7.1.1", "--objet", "Budget primitif",
                 "--document", f"{MATERIAL / 'budget-primitif.xml'}:99_BU",
                 "--annexe", f"{MATERIAL / 'annexe.pdf'}:70_DE", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert run("validate", result.output.strip()).exit_code == 0


@pytest.mark.parametrize("option,value,message", [
    ("--siren", "12345", "siren"),
    ("--matiere", "7", "--matiere"),
    ("--departement", "2C", "departement"),
])
def test_envelope_build_refuses_bad_fields_with_the_field_named(tmp_path, option, value, message):
    args = {"--siren": "491011698", "--departement": "034", "--date": "2024-05-02",
            "--numero": "D1", "--nature": "DE", "--matiere": "5.2", "--objet": "x",
            "--document": str(MATERIAL / "deliberation.pdf"), "-o": str(tmp_path)}
    args[option] = value
    result = CliRunner().invoke(main, ["envelope", "build", *sum(args.items(), ())])
    assert result.exit_code == 2
    assert message in result.output
    assert not list(tmp_path.glob("*.tar.gz"))


def test_console_script_runs_as_a_real_process():
    exe = str(Path(sys.executable).parent / "operator-sim")
    proc = subprocess.run([exe, "validate", "--format", "json", str(CASES / "archive-bomb")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["reports"][0]["findings"][0]["code"] == "ARCHIVE_BOMB"
    assert "Traceback" not in proc.stderr


HOSTILE = ["xml-attribute-bomb", "xml-too-many-nodes", "encoding-utf16le-bom-declared-latin1",
           "encoding-utf16be-declared-latin1", "encoding-utf8-bom-declared-latin1",
           "tar-longname-then-pax-path"]


@pytest.mark.parametrize("case_id", HOSTILE)
def test_the_offline_validator_refuses_what_the_service_refuses(tmp_path, case_id):
    """The hostile corpus's archives, with the code the served simulator answers them with."""
    case = next(c for c in HOSTILE_CASES if c.id == case_id)
    upload = case.make(Material("http://127.0.0.1:9", None, lambda: None))  # type: ignore[arg-type]
    path = tmp_path / upload.name
    path.write_bytes(upload.body)
    result = run("validate", "--format", "json", "--no-progress", path)
    assert result.exit_code == 1, result.output
    (report,) = json.loads(result.output)["reports"]
    assert report["findings"][0]["code"] == case.expect.code
