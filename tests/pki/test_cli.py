"""`operator-sim pki …` through click's CliRunner, into a temporary folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import pkcs12

from operator_sim.cli import main
from operator_sim.pki import PkiStore, Reason, judge
from operator_sim.store import SqliteStore


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "certs"
    result = CliRunner().invoke(main, ["pki", "init", "--dir", str(path), "--ca-key", "rsa-2048"])
    assert result.exit_code == 0, result.output
    assert f"created {path / 'roots.pem'}" in result.output
    assert "manifest.json" in result.output
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["pki", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_init_twice_changes_nothing(folder):
    index = (folder / "index.json").read_bytes()
    output = run("init", "--dir", str(folder))
    assert "already initialised" in output
    assert (folder / "index.json").read_bytes() == index


def issue(folder, name: str) -> tuple[str, str]:
    output = run("issue-agent", "--dir", str(folder), "--data-dir", str(folder.parent / "data"),
                 "--siren", "213403017", "--name", name, "--level", "***")
    lines = dict(line.split(" ", 1) for line in output.splitlines())
    return lines["serial"], lines["sha256"]


def test_issue_agent_binds_the_certificate_to_its_siren(folder):
    serial, sha256 = issue(folder, "Jeanne Martin")
    with SqliteStore.open(folder.parent / "data") as store:
        binding = store.agent_certificate(sha256)
    assert (binding.siren, binding.serial) == ("213403017", serial)
    assert binding.subject == PkiStore(folder).find(serial).subject
    assert [(a.name, a.sirens) for a in binding.agents] == [("Jeanne Martin",
                                                             frozenset({"213403017"}))]
    assert not (folder / "identities.json").exists()
    listed = json.loads(run("list", "--dir", str(folder), "--json"))
    assert any(r["serial"] == serial and r["kind"] == "agent" for r in listed)


def test_revoke_then_trust_says_revoked(folder):
    serial, _ = issue(folder, "Agent à révoquer")
    output = run("revoke", "--dir", str(folder), serial, "--reason", "keyCompromise")
    assert f"revoked {serial}" in output
    store = PkiStore(folder)
    verdict = judge([store.certificate(store.find(serial))],
                    at=datetime.now(UTC), store=store.trust_store())
    assert verdict.reason is Reason.CERT_REVOKED
    assert "REVOKED keyCompromise" in run("list", "--dir", str(folder))


def test_revoking_an_unknown_certificate_is_a_usage_error(folder):
    result = CliRunner().invoke(main, ["pki", "revoke", "--dir", str(folder), "ABCDEF0123"])
    assert result.exit_code == 2 and "no certificate matches" in result.output


def test_export_p12_is_loadable_with_its_chain(folder, tmp_path):
    serial, _ = issue(folder, "Agent navigateur")
    out = tmp_path / "agent.p12"
    run("export-p12", "--dir", str(folder), serial, "--out", str(out), "--password", "secret")
    loaded = pkcs12.load_pkcs12(out.read_bytes(), b"secret")
    assert f"{loaded.cert.certificate.serial_number:X}" == serial
    assert loaded.key is not None and len(loaded.additional_certs) == 1
