"""`operator-sim validate` output stays valid UTF-8 JSON and valid XML whatever an archive
holds: member names that are not UTF-8 (kept as bytes by tar) or hold control characters, and
archive file names that are not UTF-8 either, are spelled `\\xNN` — the bytes, faithfully."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from operator_sim.validation.report import Finding, Severity, utf8_text, xml_text

NOT_UTF8 = b"\xff\xfe-acte.xml"
CONTROL = "acte\x01\x1b.xml"


def _archive(path: Path, name: bytes) -> None:
    """A gzipped tar whose only member's name is exactly these bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.USTAR_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar:
        info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
        info.size = 4
        tar.addfile(info, io.BytesIO(b"<x/>"))
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two crafted archives, one of them named with a byte that is not UTF-8 either."""
    _archive(tmp_path / "SLO-EACT--491011698--20240312-1.tar.gz", NOT_UTF8)
    odd = os.fsencode(tmp_path) + b"/SLO-EACT--491011698--20240312-2-\xe9.tar.gz"
    _archive(Path(os.fsdecode(odd)), CONTROL.encode())
    return tmp_path


def validate(folder: Path, fmt: str) -> bytes:
    """The real CLI in a child process, its stdout as raw bytes."""
    exe = str(Path(sys.executable).parent / "operator-sim")
    proc = subprocess.run([exe, "validate", "--no-progress", "--format", fmt, str(folder)],
                          capture_output=True, check=False)
    assert proc.returncode == 1, proc.stderr.decode("utf-8", "replace")
    return proc.stdout


def test_json_is_strict_utf8_and_spells_undecodable_bytes(folder: Path):
    out = validate(folder, "json")
    data = json.loads(out.decode("utf-8"))  # strict: a raw 0xff byte would fail here
    (first, second) = sorted(data["reports"], key=lambda r: r["source"])
    assert first["source"].endswith("20240312-1.tar.gz")
    assert second["source"].endswith("20240312-2-\\xe9.tar.gz")
    assert [f["file"] for f in first["findings"]] == ["\\xff\\xfe-acte.xml"]
    assert first["findings"][0]["code"] == "ARCHIVE_BAD_MEMBER_NAME"
    files = [f["file"] for f in second["findings"]]
    assert CONTROL in files  # JSON escapes control characters itself (\u0001)
    assert "SLO-EACT--491011698--20240312-2-\\xe9.tar.gz" in files
    assert "\\u0001" in out.decode("utf-8")
    assert "\\ud" not in out.decode("utf-8").replace("\\\\", "")  # no lone-surrogate escape


def test_text_output_is_utf8_too(folder: Path):
    out = validate(folder, "text").decode("utf-8")
    assert "(\\xff\\xfe-acte.xml" in out and "2-\\xe9.tar.gz" in out


@pytest.mark.skipif(shutil.which("xmllint") is None, reason="needs xmllint")
def test_junit_is_well_formed_xml_with_the_names_spelled_out(folder: Path, tmp_path: Path):
    out = validate(folder, "junit")
    report = tmp_path / "junit.xml"
    report.write_bytes(out)
    check = subprocess.run(["xmllint", "--noout", str(report)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    text = out.decode("utf-8")
    assert "\\xff\\xfe-acte.xml" in text and "2-\\xe9.tar.gz" in text
    assert "acte\\x01\\x1b.xml" in text


def test_escaping_rules():
    assert utf8_text(NOT_UTF8.decode("utf-8", "surrogateescape")) == "\\xff\\xfe-acte.xml"
    assert utf8_text("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    assert utf8_text("déjà\tvu\x01") == "déjà\tvu\x01"  # JSON escapes controls itself
    assert xml_text("a\x00b\x1bc\td\ne\rf\udcff") == "a\\x00b\\x1bc\td\ne\rf\\xff"
    finding = Finding("ARCHIVE_BAD_MEMBER_NAME", Severity.ERROR, "fr \udcff", "en \udcff",
                      file="\udcff.xml")
    assert json.dumps(finding.to_dict(), ensure_ascii=False).encode("utf-8")
    assert finding.to_dict()["file"] == "\\xff.xml"
