"""Every catalogue class through `pki.trust.judge`, plus the policy knobs."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from operator_sim.pki import (
    Reason,
    RgsLevel,
    SirenMismatch,
    TrustPolicy,
    TrustStore,
    judge,
    resolve,
)
from operator_sim.pki.catalogue import CLASSES

from .conftest import entry_named, load_chain


def test_catalogue_has_at_least_twenty_refusal_classes(manifest):
    assert [e.name for e in manifest] == list(CLASSES)
    assert len([e for e in manifest if e.expected_code != "ACCEPTED"]) >= 20


@pytest.mark.parametrize("name", CLASSES)
def test_trust_verdict_matches_the_manifest(name, pki, directory, manifest, trust_store):
    entry = entry_named(manifest, name)
    verdict = judge(load_chain(pki, entry), at=datetime.fromisoformat(entry.at),
                    store=trust_store)
    if entry.stage == "identity":
        assert verdict.accepted, verdict.detail
        with pytest.raises(SirenMismatch):
            resolve(directory, verdict.leaf)
        return
    assert verdict.code == entry.expected_code, verdict.detail
    assert verdict.indication == entry.indication
    assert verdict.sub_indication == entry.sub_indication


def test_refusals_map_to_dss_indications(pki, manifest, trust_store):
    expected = {"expired": ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE"),
                "revoked": ("TOTAL_FAILED", "REVOKED"),
                "unknown_ca": ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND"),
                "not_yet_valid": ("INDETERMINATE", "NOT_YET_VALID")}
    for name, (indication, sub_indication) in expected.items():
        entry = entry_named(manifest, name)
        verdict = judge(load_chain(pki, entry), at=datetime.fromisoformat(entry.at),
                        store=trust_store)
        assert (verdict.indication, verdict.sub_indication) == (indication, sub_indication)


def test_accepted_verdict_carries_the_validated_chain_and_rgs_level(pki, manifest, trust_store):
    entry = entry_named(manifest, "valid_rgs3_rsa2048_signing")
    chain = load_chain(pki, entry)
    verdict = judge(chain, at=datetime.fromisoformat(entry.at), store=trust_store)
    assert verdict.accepted and verdict.indication == "PASSED"
    assert verdict.level is RgsLevel.THREE
    assert verdict.chain[0] == chain[0]
    assert verdict.chain[-1] == trust_store.anchors[0]
    assert len(verdict.chain) == 3


def test_a_higher_minimum_level_refuses_a_lower_rgs_certificate(pki, manifest, trust_store):
    entry = entry_named(manifest, "valid_rgs2_ecdsa")
    verdict = judge(load_chain(pki, entry), at=datetime.fromisoformat(entry.at),
                    store=trust_store, policy=TrustPolicy(min_level=RgsLevel.THREE))
    assert verdict.reason is Reason.RGS_LEVEL_TOO_LOW


def test_missing_crl_is_indeterminate_not_accepted(pki, manifest, trust_store):
    entry = entry_named(manifest, "valid_rgs2_ecdsa")
    without_crls = dataclasses.replace(trust_store, crls=())
    verdict = judge(load_chain(pki, entry), at=datetime.fromisoformat(entry.at),
                    store=without_crls)
    assert verdict.reason is Reason.CRL_UNAVAILABLE
    assert verdict.sub_indication == "TRY_LATER"


def test_a_crl_under_the_issuer_name_but_signed_by_another_key_never_counts(pki, manifest,
                                                                            trust_store):
    """CRLs are matched to an issuer once and remembered: by its certificate, not its name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    entry = entry_named(manifest, "valid_rgs2_ecdsa")
    chain, at = load_chain(pki, entry), datetime.fromisoformat(entry.at)
    forged = (x509.CertificateRevocationListBuilder().issuer_name(chain[0].issuer)
              .last_update(at - timedelta(hours=1)).next_update(at + timedelta(days=1))
              .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    swapped = dataclasses.replace(trust_store, crls=(
        *(crl for crl in trust_store.crls if crl.issuer != chain[0].issuer), forged))
    for _ in range(2):  # the second answer comes from the memo
        assert judge(chain, at=at, store=swapped).reason is Reason.CRL_UNAVAILABLE
        assert judge(chain, at=at, store=trust_store).accepted


def test_revoked_certificate_passes_only_when_revocation_checking_is_off(pki, manifest,
                                                                        trust_store):
    entry = entry_named(manifest, "revoked")
    verdict = judge(load_chain(pki, entry), at=datetime.fromisoformat(entry.at),
                    store=trust_store, policy=TrustPolicy(check_revocation=False))
    assert verdict.accepted


def test_time_is_an_argument_the_same_certificate_expires_later(pki, manifest, trust_store):
    entry = entry_named(manifest, "valid_first_second")
    chain = load_chain(pki, entry)
    not_after = chain[0].not_valid_after_utc
    no_crl = TrustPolicy(check_revocation=False)  # a year on, the 7-day CRL is long stale
    assert judge(chain, at=not_after, store=trust_store, policy=no_crl).accepted
    verdict = judge(chain, at=not_after + timedelta(seconds=1), store=trust_store, policy=no_crl)
    assert verdict.reason is Reason.CERT_EXPIRED


def test_empty_chain_is_refused_with_no_certificate():
    verdict = judge([], at=datetime(2030, 1, 1), store=TrustStore(anchors=()))
    assert verdict.reason is Reason.NO_CERTIFICATE

