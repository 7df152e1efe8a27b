"""`judge` remembers acceptances per trust store, and never past the instant they stop holding.

Each test first gets an acceptance (remembered), then asks again at an instant or against a
PKI where judging afresh refuses: the memo must not answer for it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from operator_sim.pki import AgentSubject, PkiStore, Reason, RgsLevel, TrustPolicy, judge
from operator_sim.pki.profiles import RSA_2048


@pytest.fixture
def own_pki(tmp_path, reference_time) -> PkiStore:
    """A small PKI of its own (no catalogue): these tests revoke and publish CRLs."""
    store = PkiStore(tmp_path / "certs")
    store.initialise(now=reference_time, ca_key=RSA_2048)
    return store


def agent(pki: PkiStore, at: datetime):
    record = pki.issue_agent(AgentSubject("Commune de test", "213403017", "Agent"), now=at)
    return record, pki.certificate(record)


def crl_of(pki: PkiStore, ca_id: str, *, last: datetime, next_: datetime,
           revoked: tuple[tuple[int, datetime], ...] = ()) -> x509.CertificateRevocationList:
    """A CRL signed by the CA `ca_id`, listing (serial, revocation date) pairs."""
    issuer = pki.ca(ca_id)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer.certificate.subject)
               .last_update(last).next_update(next_))
    for serial, date in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(date).build())
    return builder.sign(issuer.key, hashes.SHA256())


def test_an_acceptance_is_answered_again_from_the_memo_within_its_window(own_pki,
                                                                        reference_time):
    _, leaf = agent(own_pki, reference_time)
    store = own_pki.trust_store()
    first = judge([leaf], at=reference_time + timedelta(minutes=1), store=store)
    again = judge([leaf], at=reference_time + timedelta(hours=1), store=store)
    assert first.accepted and again is first  # the same verdict, not judged afresh


def test_a_revocation_published_after_an_acceptance_refuses_from_then_on(own_pki,
                                                                        reference_time):
    record, leaf = agent(own_pki, reference_time)
    at = reference_time + timedelta(minutes=1)
    assert judge([leaf], at=at, store=own_pki.trust_store()).accepted
    own_pki.revoke(record.serial, now=at)
    later = judge([leaf], at=at + timedelta(minutes=1), store=own_pki.trust_store())
    assert later.reason is Reason.CERT_REVOKED


def test_a_revocation_dated_later_refuses_once_its_date_has_come(own_pki, reference_time):
    record, leaf = agent(own_pki, reference_time)
    store = own_pki.trust_store()
    revocation = reference_time + timedelta(hours=2)
    listing = crl_of(own_pki, record.issuer, last=reference_time, next_=reference_time
                     + timedelta(days=7), revoked=((leaf.serial_number, revocation),))
    dated = dataclasses.replace(store, crls=(
        *(crl for crl in store.crls if crl.issuer != leaf.issuer), listing))
    assert judge([leaf], at=reference_time + timedelta(hours=1), store=dated).accepted
    verdict = judge([leaf], at=revocation + timedelta(seconds=1), store=dated)
    assert verdict.reason is Reason.CERT_REVOKED


def test_a_remembered_acceptance_goes_stale_with_its_crl(own_pki, reference_time):
    record, leaf = agent(own_pki, reference_time)
    store = own_pki.trust_store()
    assert judge([leaf], at=reference_time + timedelta(minutes=1), store=store).accepted
    later = reference_time + timedelta(days=30)  # the agent CA's CRL is due weekly
    assert all(later > crl.next_update_utc
               for crl in store.crls_of(own_pki.ca(record.issuer).certificate))
    assert later < leaf.not_valid_after_utc
    assert judge([leaf], at=later, store=store).reason is Reason.CRL_STALE


def test_a_remembered_acceptance_ends_with_the_certificate(own_pki, reference_time):
    _, leaf = agent(own_pki, reference_time)
    store, no_crl = own_pki.trust_store(), TrustPolicy(check_revocation=False)
    assert judge([leaf], at=reference_time + timedelta(minutes=1), store=store,
                 policy=no_crl).accepted
    after = judge([leaf], at=leaf.not_valid_after_utc + timedelta(seconds=1), store=store,
                  policy=no_crl)
    before = judge([leaf], at=leaf.not_valid_before_utc - timedelta(seconds=1), store=store,
                   policy=no_crl)
    assert (after.reason, before.reason) == (Reason.CERT_EXPIRED, Reason.CERT_NOT_YET_VALID)


def test_the_memo_is_per_policy(own_pki, reference_time):
    _, leaf = agent(own_pki, reference_time)
    store = own_pki.trust_store()
    at = reference_time + timedelta(minutes=1)
    assert judge([leaf], at=at, store=store).accepted
    stricter = TrustPolicy(min_level=RgsLevel.THREE)  # the agent's certificate is RGS **
    assert judge([leaf], at=at, store=store, policy=stricter).reason is Reason.RGS_LEVEL_TOO_LOW
