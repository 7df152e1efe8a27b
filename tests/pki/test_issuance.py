"""Issuance profiles, key files, CRLs and revocation, as a strict reader of X.509 sees them."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from operator_sim.pki import AgentSubject, PkiStore, Reason, RevocationReason, RgsLevel, judge
from operator_sim.pki.profiles import RSA_2048, TEST_ARC, agent_spec
from operator_sim.pki.store import AGENTS_CA, ROOT, SERVERS_CA


def cert(pki: PkiStore, relative: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((pki.directory / relative).read_bytes())


def ext(certificate: x509.Certificate, kind):
    return certificate.extensions.get_extension_for_class(kind)


def test_root_and_intermediates_are_cas_with_rgs_policies(pki):
    root, agents = cert(pki, "ca/root.pem"), cert(pki, "ca/agents.pem")
    assert root.subject == root.issuer and ext(root, x509.BasicConstraints).value.ca
    constraints = ext(agents, x509.BasicConstraints)
    assert constraints.critical and constraints.value.path_length == 0
    assert ext(agents, x509.KeyUsage).value.key_cert_sign
    assert {p.policy_identifier for p in ext(agents, x509.CertificatePolicies).value} == {
        level.policy_oid for level in RgsLevel}
    assert isinstance(agents.public_key(), rsa.RSAPublicKey)
    assert agents.public_key().key_size >= 2048


def test_agent_certificate_follows_the_rgs_profile(pki, reference_time):
    record = pki.issue_agent(AgentSubject("Commune de Sète", "213403017", "Jeanne Martin",
                                          siret="21340301700019", serial_number="A42"),
                             now=reference_time, level=RgsLevel.THREE, signing=True)
    leaf = pki.certificate(record)
    name = leaf.subject
    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "FR"
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Commune de Sète"
    assert name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        "0002 21340301700019")
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == (
        "NTRFR-213403017")
    assert name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "A42"
    usage = ext(leaf, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    policies = [p.policy_identifier for p in ext(leaf, x509.CertificatePolicies).value]
    assert policies == [RgsLevel.THREE.policy_oid]
    assert policies[0].dotted_string.startswith(TEST_ARC + ".")
    points = ext(leaf, x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value.endswith("/agents.crl")
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= timedelta(days=3 * 365)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"
    key_mode = stat.S_IMODE((pki.directory / record.key).stat().st_mode)
    assert key_mode == 0o600


def test_agent_lifetime_beyond_three_years_is_refused(reference_time):
    key = RSA_2048.generate()
    with pytest.raises(ValueError, match="3 years"):
        agent_spec(AgentSubject("C", "213403017", "X"), key.public_key(), key.public_key(),
                   now=reference_time, issuer_id="agents", lifetime=timedelta(days=3 * 366))


def test_invalid_siren_is_refused():
    with pytest.raises(ValueError, match="SIREN"):
        AgentSubject("C", "12345", "X")


def test_tsa_certificate_has_time_stamping_as_its_only_critical_eku(pki):
    tsa = cert(pki, "tsa/tsa.pem")
    eku = ext(tsa, x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_ministere_certificate_signs_with_non_repudiation(pki):
    usage = ext(cert(pki, "ministere/ministere.pem"), x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment


def test_tls_server_certificate_names_localhost_and_loopbacks(pki):
    server = cert(pki, "server/server.pem")
    san = ext(server, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert list(ext(server, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    issuer = cert(pki, "ca/servers.pem")
    assert server.issuer == issuer.subject
    assert (pki.server_chain_path.read_bytes().count(b"BEGIN CERTIFICATE")) == 2


def test_each_issuing_ca_publishes_a_signed_crl(pki, reference_time):
    for ca_id in (ROOT, AGENTS_CA, SERVERS_CA):
        crl = x509.load_pem_x509_crl(pki.crl_path(ca_id).read_bytes())
        issuer = cert(pki, f"ca/{ca_id}.pem")
        assert crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key())
        assert crl.last_update_utc <= reference_time < crl.next_update_utc


@pytest.fixture
def own_pki(tmp_path, reference_time) -> PkiStore:
    """A small PKI of its own (no catalogue) for tests that revoke."""
    store = PkiStore(tmp_path / "certs")
    store.initialise(now=reference_time, ca_key=RSA_2048)
    return store


def test_revocation_lists_reason_and_raises_the_crl_number(own_pki, reference_time):
    record = own_pki.issue_agent(AgentSubject("C", "213403017", "A"), now=reference_time)
    before = x509.load_pem_x509_crl(own_pki.crl_path(AGENTS_CA).read_bytes())
    own_pki.revoke(record.serial, now=reference_time + timedelta(minutes=5),
                   reason=RevocationReason.keyCompromise)
    after = x509.load_pem_x509_crl(own_pki.crl_path(AGENTS_CA).read_bytes())
    number = ext  # same helper works for CRLs
    assert number(after, x509.CRLNumber).value.crl_number > number(
        before, x509.CRLNumber).value.crl_number
    entry = after.get_revoked_certificate_by_serial_number(int(record.serial, 16))
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise)
    verdict = judge([own_pki.certificate(record)], at=reference_time + timedelta(minutes=6),
                    store=own_pki.trust_store())
    assert verdict.reason is Reason.CERT_REVOKED


def test_regenerated_crls_are_fresh_again_after_going_stale(own_pki, reference_time):
    record = own_pki.issue_agent(AgentSubject("C", "213403017", "A"), now=reference_time)
    later = reference_time + timedelta(days=30)
    leaf = own_pki.certificate(record)
    assert judge([leaf], at=later, store=own_pki.trust_store()).reason is Reason.CRL_STALE
    own_pki.regenerate_crls(now=later)
    assert judge([leaf], at=later, store=own_pki.trust_store()).accepted


def test_init_is_idempotent(own_pki, reference_time):
    root_before = (own_pki.directory / "ca/root.pem").read_bytes()
    report = own_pki.initialise(now=reference_time)
    assert report.already_initialised and report.created == ()
    assert (own_pki.directory / "ca/root.pem").read_bytes() == root_before
