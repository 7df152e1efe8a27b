"""Our tokens judged by the real `openssl ts`, and openssl's tokens judged by our verifier."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from operator_sim.timestamp import (
    ImprintMismatch,
    InvalidCertificate,
    InvalidSignature,
    build_query,
    token_of,
    verify_response,
    verify_token,
)

from .conftest import TsaMaterial, openssl, openssl_verify

DATA = b"<actes:Acte>deliberation</actes:Acte>\n"


def test_openssl_verifies_our_reply(material: TsaMaterial, tmp_path: Path) -> None:
    data, reply = tmp_path / "acte.xml", tmp_path / "acte.tsr"
    data.write_bytes(DATA)
    reply.write_bytes(material.authority().respond(build_query(hashlib.sha256(DATA).digest())))
    result = openssl_verify(material.store, data, reply)
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr


def test_openssl_verifies_our_bare_token(material: TsaMaterial, tmp_path: Path) -> None:
    data, token = tmp_path / "acte.xml", tmp_path / "acte.tst"
    data.write_bytes(DATA)
    token.write_bytes(material.authority().stamp_digest(hashlib.sha256(DATA).digest()))
    result = openssl("ts", "-verify", "-data", data, "-in", token, "-token_in", "-CAfile",
                     material.store.roots_path, "-untrusted", material.store.intermediates_path,
                     check=False)
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr


def test_openssl_refuses_our_reply_for_altered_data(material: TsaMaterial,
                                                    tmp_path: Path) -> None:
    data, reply = tmp_path / "acte.xml", tmp_path / "acte.tsr"
    reply.write_bytes(material.authority().respond(build_query(hashlib.sha256(DATA).digest())))
    data.write_bytes(DATA.replace(b"deliberation", b"deliberatiom"))
    result = openssl_verify(material.store, data, reply)
    assert result.returncode != 0
    assert "Verification: OK" not in result.stdout
    assert "message imprint mismatch" in result.stderr


def test_openssl_query_gets_granted_reply_echoing_its_nonce(material: TsaMaterial,
                                                           tmp_path: Path) -> None:
    data, query, reply = tmp_path / "acte.xml", tmp_path / "q.tsq", tmp_path / "r.tsr"
    data.write_bytes(DATA)
    openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    query_nonce = re.search(r"Nonce: (\S+)", openssl("ts", "-query", "-in", query, "-text").stdout)
    reply.write_bytes(material.authority().respond(query.read_bytes()))
    text = openssl("ts", "-reply", "-in", reply, "-text").stdout
    assert "Status: Granted." in text
    assert query_nonce and f"Nonce: {query_nonce.group(1)}" in text
    assert "Accuracy: 0x01 seconds" in text
    assert "Verification: OK" in openssl_verify(material.store, data, reply).stdout
    # and the query binds: openssl's own check of the reply against its query
    result = openssl("ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile",
                     material.store.roots_path, "-untrusted", material.store.intermediates_path,
                     check=False)
    assert "Verification: OK" in result.stdout, result.stderr


def _openssl_tsa_config(material: TsaMaterial, folder: Path) -> Path:
    (folder / "serial").write_text("01\n")
    config = folder / "openssl.cnf"
    config.write_text(f"""
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {folder / "serial"}
signer_cert = {material.cert_path}
signer_key = {material.key_path}
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_alg = sha256
""")
    return config


def test_our_verifier_accepts_openssl_tokens_and_refuses_altered_data(
        material: TsaMaterial, tmp_path: Path) -> None:
    """Cross-check of `verify_token`: a token openssl made verifies, a changed byte does not."""
    data, query, reply = tmp_path / "acte.xml", tmp_path / "q.tsq", tmp_path / "r.tsr"
    data.write_bytes(DATA)
    openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    openssl("ts", "-reply", "-queryfile", query, "-config", _openssl_tsa_config(
        material, tmp_path), "-out", reply)
    token = token_of(reply.read_bytes())
    assert verify_token(token, tsa_certificate=material.certificate, data=DATA).policy \
        == "1.2.3.4.1"
    with pytest.raises(ImprintMismatch):
        verify_token(token, tsa_certificate=material.certificate, data=DATA + b" ")


def test_our_verifier_refuses_another_signer_and_a_tampered_token(
        ec_tsa: TsaMaterial, rsa_tsa: TsaMaterial) -> None:
    digest = hashlib.sha256(DATA).digest()
    response = ec_tsa.authority().respond(build_query(digest))
    with pytest.raises(InvalidCertificate):
        verify_response(response, tsa_certificate=rsa_tsa.certificate, digest=digest)
    token = bytearray(token_of(response))
    second = bytes(token).index(b".3456Z") - 1  # last digit of genTime's seconds
    token[second] = ord("0") + (token[second] - ord("0") + 1) % 10
    with pytest.raises(InvalidSignature, match="messageDigest"):
        verify_token(bytes(token), tsa_certificate=ec_tsa.certificate, digest=digest)
