"""The ministry schema as oracle: envelopes built outside the project (lxml + tarfile) that the
official `actesv1_1.xsd` refuses are refused under `strict`, each with its finding; those it
accepts are accepted, except where `strict` is deliberately stricter — and each such place is in
the README's table. Every fixture valid under strict is valid under the official schema."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from operator_sim.validation.profiles import PlatformProfile
from operator_sim.validation.validator import ValidationPolicy, validate_archive

from .holdout import holdout, members

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = ROOT / "schemas" / "official" / "actesv1_1.xsd"
PROJECT = ROOT / "schemas" / "actes" / "actes.xsd"
XMLLINT = shutil.which("xmllint")
TODAY = dt.date(2024, 3, 14)

# variation → (official schema accepts it, first error under strict, valid under lenient)
VARIATIONS: dict[str, tuple[dict, bool, str | None, bool]] = {
    "as-sent": ({}, True, None, True),
    "no-document-papier": ({"papier": None}, False, "DOCUMENT_PAPIER_MISSING", True),
    "departement-100": ({"departement": "100"}, False, "DEPARTEMENT_UNKNOWN", True),
    "departement-0|1": ({"departement": "0|1"}, False, "SCHEMA_INVALID", False),
    "numero-16-characters": ({"numero": "ABCDEFGHIJKLMNOP"}, False, "NAME_MESSAGE", False),
    "objet-501-characters": ({"objet": "x" * 501}, False, "SCHEMA_INVALID", False),
    # Accepted by the official schema, refused by strict on purpose (README table):
    "departement-096": ({"departement": "096"}, True, "DEPARTEMENT_UNKNOWN", True),
    "departement-020": ({"departement": "020"}, True, "DEPARTEMENT_UNKNOWN", True),
    "departement-01A": ({"departement": "01A"}, True, "SCHEMA_INVALID", False),
    "numero-lower-case": ({"numero": "delib24"}, True, "NUMERO_INTERNE_LOWERCASE", True),
    "numero-hyphen": ({"numero": "DEL-24"}, True, "NAME_MESSAGE", False),
    "numero-empty": ({"numero": ""}, True, "NAME_MESSAGE", False),
    "nature-9": ({"nature": "9"}, True, "MESSAGE_INVALID", False),
    "budget-as-pdf": ({"nature": "5", "abrege": "BF", "matiere": (7, 1), "typologie": "99_BU"},
                      True, "BUDGET_NOT_XML", True),
}
STRICTER = {"DEPARTEMENT_UNKNOWN", "SCHEMA_INVALID", "NUMERO_INTERNE_LOWERCASE",
            "NUMERO_INTERNE_INVALID", "MESSAGE_INVALID", "BUDGET_NOT_XML"}
"""Codes strict refuses an officially valid envelope with (each explained in the README)."""


def xmllint_accepts(xsd: Path, data: bytes, folder: Path) -> bool:
    if XMLLINT is None:
        pytest.skip("xmllint is not installed")
    path = folder / "message.xml"
    path.write_bytes(data)
    run = subprocess.run([XMLLINT, "--noout", "--schema", str(xsd), str(path)],
                         capture_output=True, text=True, check=False)
    return run.returncode == 0


def official_accepts(archive: bytes, folder: Path) -> bool:
    return all(xmllint_accepts(OFFICIAL, data, folder)
               for name, data in members(archive).items() if name.endswith(".xml"))


@pytest.mark.parametrize("variation", sorted(VARIATIONS))
def test_strict_refuses_what_the_official_schema_refuses(variation: str, tmp_path: Path) -> None:
    changes, accepted, code, lenient_valid = VARIATIONS[variation]
    name, archive = holdout(**changes)
    assert official_accepts(archive, tmp_path) is accepted
    strict = validate_archive(io.BytesIO(archive), ValidationPolicy(today=TODAY), name=name)
    assert strict.valid is (code is None), strict.findings
    if code is not None:
        assert strict.errors[0].code == code, [f.code for f in strict.errors]
    if accepted and code is not None:
        assert {f.code for f in strict.errors} & STRICTER, strict.findings
    lenient = validate_archive(io.BytesIO(archive),
                               ValidationPolicy(today=TODAY, profile=PlatformProfile.LENIENT),
                               name=name)
    assert lenient.valid is lenient_valid, lenient.findings
    if lenient_valid and code is not None:
        assert code in {f.code for f in lenient.warnings}
    assert lenient.platform_profile == "lenient" and strict.platform_profile == "strict"


def test_the_readme_table_names_every_place_strict_is_stricter() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Strict and lenient", 1)[1].split("\n## ", 1)[0]
    for code in STRICTER:
        assert f"`{code}`" in table, code


def _fixtures() -> list[dict]:
    return json.loads((ROOT / "fixtures" / "cases" / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("entry", _fixtures(), ids=lambda entry: entry["slug"])
def test_fixture_messages_against_both_schemas(entry: dict, tmp_path: Path) -> None:
    """A fixture valid under strict has every XML member valid under both schemas; in every
    fixture, the official schema refuses nothing the project schema accepts but an envelope or
    act the strict validator refuses anyway."""
    archive = (ROOT / "fixtures" / "cases" / entry["archive"]).read_bytes()
    try:
        xml = {name: data for name, data in members(archive).items()
               if name.endswith(".xml") and not name.startswith("99_")}
    except (tarfile.TarError, OSError, EOFError, zlib.error):  # the unreadable archives
        assert not entry["valid"]
        return
    for name, data in xml.items():
        if b"<!DOCTYPE" in data or b"DocumentBudgetaire" in data:
            continue  # refused before any schema (XML_DTD_FORBIDDEN) / the TOTEM document
        project = xmllint_accepts(PROJECT, data, tmp_path)
        official = xmllint_accepts(OFFICIAL, data, tmp_path)
        if entry["valid"]:
            assert project and official, name
        elif project and not official:
            assert entry["code"] in {"DOCUMENT_PAPIER_MISSING"} | STRICTER, (name, entry)


def test_validate_profile_option_gives_each_fixture_its_manifest_verdict() -> None:
    """`operator-sim validate --profile strict|lenient` on the whole committed corpus: every
    archive gets the verdict and first code its manifest entry announces for that profile."""
    from click.testing import CliRunner

    from operator_sim.cli import main

    cases = ROOT / "fixtures" / "cases"
    expected = {entry["archive"]: entry for entry in _fixtures()}
    for profile in ("strict", "lenient"):
        result = CliRunner().invoke(main, ["validate", "--no-progress", "--format", "json",
                                           "--today", "2024-03-14", "--jobs", "1",
                                           "--profile", profile, str(cases)])
        assert result.exit_code == 1, result.output[-2000:]
        reports = json.loads(result.output)
        reports = reports["reports"] if isinstance(reports, dict) else reports
        assert len(reports) == len(expected)
        for report in reports:
            archive = str(Path(report["source"]).relative_to(cases))
            verdict = expected[archive] if profile == "strict" else expected[archive]["lenient"]
            errors = [f["code"] for f in report["findings"] if f["severity"] == "error"]
            assert report["valid"] is verdict["valid"], (profile, archive, errors)
            assert (errors[0] if errors else None) == verdict["code"], (profile, archive)
            assert report["platform_profile"] == profile
