"""`envelope sign`, `envelope build --sign-cert/--sign-key` and `validate --pki-dir
--signatures` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from operator_sim.pki import PkiStore
from operator_sim.protocol.archive import read_archive
from operator_sim.protocol.messages import Acte, parse_message

from .conftest import DOCUMENT, SignerFiles, openssl_verify, signed_request, write_act


def run(*args: object) -> Result:
    from operator_sim.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _acte(path: Path) -> tuple[Acte, dict[str, bytes]]:
    with read_archive(path) as archive:
        members = {m.name: m.read() for m in archive}
    message = next(parse_message(d) for n, d in members.items() if n.endswith("-1-1_0.xml"))
    assert isinstance(message, Acte)
    return message, members


def _validate(path: Path, pki: PkiStore, mode: str) -> Result:
    return run("validate", "--no-progress", "--pki-dir", pki.directory, "--signatures", mode,
               path)


def test_envelope_sign_adds_signatures_that_openssl_and_validate_accept(
        tmp_path: Path, pki: PkiStore, agent: SignerFiles) -> None:
    path = write_act(signed_request(None), tmp_path)
    assert _validate(path, pki, "required").exit_code == 1
    signed = tmp_path / "signed" / path.name
    result = run("envelope", "sign", "--cert", agent.cert, "--key", agent.key,
                 "--chain", agent.chain[0], path, "-o", signed)
    assert result.exit_code == 0, result.output
    acte, members = _acte(signed)
    for fichier in (acte.document, *acte.annexes):
        assert fichier.signature is not None
        done = openssl_verify(members[fichier.nom_fichier], fichier.signature, pki.roots_path,
                              tmp_path, "-purpose", "any")
        assert done.returncode == 0, done.stderr
    outcome = _validate(signed, pki, "required")
    assert outcome.exit_code == 0, outcome.output


def test_validate_reports_a_broken_signature_unless_off(tmp_path: Path, pki: PkiStore) -> None:
    path = write_act(signed_request(b"not a signature"), tmp_path)
    refused = _validate(path, pki, "verify-if-present")
    assert refused.exit_code == 1 and "SIGNATURE_FORMAT" in refused.output
    assert "TOTAL_FAILED/FORMAT_FAILURE" in refused.output
    assert _validate(path, pki, "off").exit_code == 0


def test_envelope_build_signs_in_one_step(tmp_path: Path, pki: PkiStore,
                                          agent: SignerFiles) -> None:
    document = tmp_path / "deliberation.pdf"
    document.write_bytes(DOCUMENT)
    out = tmp_path / "out"
    result = run("envelope", "build", "--siren", "491011698", "--departement", "034",
                 "--date", "2024-03-12", "--numero", "DELIB2024_099", "--nature", "DE",
                 "--matiere", "5.2", "--objet", "Acte signe", "--document",
                 f"{document}:99_DE", "--envelope-date", "2024-03-14", "--output", out,
                 "--sign-cert", agent.cert, "--sign-key", agent.key,
                 "--sign-chain", agent.chain[0])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    acte, _ = _acte(path)
    assert acte.document.signature is not None
    outcome = _validate(path, pki, "required")
    assert outcome.exit_code == 0, outcome.output


def test_envelope_build_needs_both_key_and_certificate(tmp_path: Path,
                                                       agent: SignerFiles) -> None:
    result = run("envelope", "build", "--siren", "491011698", "--departement", "034",
                 "--date", "2024-03-12", "--numero", "X1", "--nature", "DE", "--matiere", "5.2",
                 "--objet", "o", "--document", agent.cert, "--sign-cert", agent.cert)
    assert result.exit_code == 2 and "--sign-key" in result.output
