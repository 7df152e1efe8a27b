"""`openssl verify` (the real binary) agrees with `pki.trust` on every class it can judge."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from operator_sim.pki import RgsLevel
from operator_sim.pki.catalogue import CLASSES
from operator_sim.pki.store import PUBLISHED_INTERMEDIATES, ROOT

from .conftest import entry_named

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")


def openssl_verify(pki, entry, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(pki.intermediates_path.read_bytes() + b"".join(
        (pki.directory / p).read_bytes() for p in entry.chain[1:]))
    command = ["openssl", "verify", "-CAfile", str(pki.roots_path), "-untrusted", str(untrusted),
               "-crl_check_all", "-purpose", "sslclient", "-x509_strict", "-auth_level", "2",
               "-explicit_policy",
               "-attime", str(int(datetime.fromisoformat(entry.at).timestamp()))]
    for ca_id in (ROOT, *PUBLISHED_INTERMEDIATES):
        command += ["-CRLfile", str(pki.crl_path(ca_id))]
    for level in RgsLevel:
        command += ["-policy", level.policy_oid.dotted_string]
    return subprocess.run([*command, str(pki.directory / entry.chain[0])],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", CLASSES)
def test_openssl_verify_agrees_with_our_verdict(name, pki, manifest, tmp_path):
    entry = entry_named(manifest, name)
    if not entry.openssl_judgeable:
        pytest.skip(f"not judgeable by openssl: {entry.openssl_note}")
    result = openssl_verify(pki, entry, tmp_path)
    we_accept = entry.expected_code == "ACCEPTED"
    assert (result.returncode == 0) == we_accept, result.stdout + result.stderr


def test_openssl_treats_not_after_as_exclusive_where_rfc5280_does_not(pki, manifest, tmp_path):
    entry = entry_named(manifest, "valid_last_second")
    assert entry.expected_code == "ACCEPTED"
    result = openssl_verify(pki, entry, tmp_path)
    assert result.returncode != 0
    assert "certificate has expired" in result.stdout + result.stderr


def test_openssl_accepts_a_certificate_without_eku_that_the_rgs_profile_refuses(
        pki, manifest, tmp_path):
    entry = entry_named(manifest, "no_eku")
    assert entry.expected_code == "EKU_MISSING"
    assert openssl_verify(pki, entry, tmp_path).returncode == 0
