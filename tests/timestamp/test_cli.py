"""`operator-sim timestamp FILE` stamping locally with the test PKI's TSA."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from operator_sim.cli import main

from .conftest import TsaMaterial, openssl_verify


def test_local_timestamp_writes_a_reply_openssl_verifies(ec_tsa: TsaMaterial,
                                                         tmp_path: Path) -> None:
    data, reply = tmp_path / "acte.xml", tmp_path / "out" / "acte.tsr"
    data.write_bytes(b"<acte/>")
    reply.parent.mkdir()
    result = CliRunner().invoke(main, ["timestamp", str(data), "--pki-dir",
                                       str(ec_tsa.store.directory), "-o", str(reply)])
    assert result.exit_code == 0, result.output
    assert "serial 0x" in result.output
    assert "Verification: OK" in openssl_verify(ec_tsa.store, data, reply).stdout
    data.write_bytes(b"<acte/> ")
    assert openssl_verify(ec_tsa.store, data, reply).returncode != 0


def test_missing_pki_is_a_clean_error(tmp_path: Path) -> None:
    data = tmp_path / "acte.xml"
    data.write_bytes(b"<acte/>")
    result = CliRunner().invoke(main, ["timestamp", str(data), "--pki-dir",
                                       str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no test PKI" in result.output
