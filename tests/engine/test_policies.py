"""The validation policy reaches each worker process once, and again only when it changes."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import subprocess
from concurrent.futures import ProcessPoolExecutor

import pytest

from operator_sim.engine import policies
from operator_sim.engine.clock import VirtualClock
from operator_sim.engine.intake import Engine
from operator_sim.engine.receipts import ReceiptSigners
from operator_sim.protocol.classification import default_classification
from operator_sim.signature import sign_outgoing
from operator_sim.signature.cms import ministere_material
from operator_sim.signature.policy import SignatureMode, SignaturePolicy
from operator_sim.store import AsyncStore, SqliteStore
from operator_sim.testing import corpus
from operator_sim.timestamp import authority_from_pki, verify_token
from operator_sim.validation.validator import ValidationPolicy

from .test_intake import NOW, identity

SIREN = corpus.COMMUNE.siren


class RecordingPool(ProcessPoolExecutor):
    """A real process pool that notes how many bytes each call's arguments pickle to."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.sent: list[int] = []

    def submit(self, fn, /, *args, **kwargs):
        self.sent.append(len(pickle.dumps((fn, args, kwargs))))  # what a worker is sent
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
async def served_engine(tmp_path, pki):
    store = SqliteStore.open(tmp_path / "data")
    for siren in ("491011698", "253400014"):  # the strict profile refuses senders without
        store.ensure_convention(siren, "SLO")
    clock = VirtualClock(NOW)
    tsa = authority_from_pki(pki.directory, clock=clock.now)
    mode = {"signatures": SignaturePolicy(mode=SignatureMode.VERIFY_IF_PRESENT)}
    pool = RecordingPool()
    engine = Engine(store=AsyncStore(store), clock=clock,
                    policy=lambda: ValidationPolicy(today=clock.today(), trust=pki.trust_store(),
                                                    signatures=mode["signatures"],
                                                    received_at=clock.now()),
                    stamp=tsa.stamp_digest, sign=lambda xml: sign_outgoing(xml, pki),
                    classification=default_classification, executor=pool)
    yield engine, pool, mode
    pool.shutdown()
    store.close()


async def _submit(engine: Engine, numero: str, folder):
    folder.mkdir(parents=True, exist_ok=True)
    built = corpus.build(corpus.base_request(numero_interne=numero))
    return await engine.submit_archive(identity(SIREN), built.name, built.write(folder))


async def test_the_policy_travels_once_per_worker_then_only_its_key(served_engine, tmp_path):
    engine, pool, _ = served_engine
    first = await _submit(engine, "POL_001", tmp_path / "1")
    assert first.code == "1-2"
    assert len(pool.sent) == 2  # asked without the policy, then sent it
    full = pool.sent[1]
    assert full > 10_000  # the trust store and the classifications
    for i in range(2, 5):
        assert (await _submit(engine, f"POL_00{i}", tmp_path / str(i))).code == "1-2"
    assert len(pool.sent) == 5 and max(pool.sent[2:]) < 1_000


async def test_a_changed_policy_reaches_the_worker(served_engine, tmp_path):
    engine, pool, mode = served_engine
    assert (await _submit(engine, "POL_010", tmp_path / "a")).code == "1-2"
    mode["signatures"] = SignaturePolicy(mode=SignatureMode.REQUIRED)  # an unsigned act fails
    refused = await _submit(engine, "POL_011", tmp_path / "b")
    assert refused.code == "1-3"
    assert any(f.code == "SIGNATURE_MISSING" for f in refused.report.errors)
    assert len(pool.sent) == 4  # the new policy was sent once more


def test_the_key_stays_while_the_fixed_part_does_and_changes_with_it(pki):
    shipper = policies.PolicyShipper()
    trust = pki.trust_store()
    one, fixed = shipper.split(ValidationPolicy(today=dt.date(2024, 3, 14), trust=trust))
    two, _ = shipper.split(ValidationPolicy(today=dt.date(2024, 3, 15), trust=trust,
                                            received_at=NOW))
    assert one.key == two.key and (two.today, two.received_at) == (dt.date(2024, 3, 15), NOW)
    assert fixed.received_at is None
    three, _ = shipper.split(ValidationPolicy(today=dt.date(2024, 3, 15), trust=None))
    assert three.key != one.key


def test_a_worker_keeps_the_last_few_policies(pki):
    shipper = policies.PolicyShipper()
    refs = []
    for day in range(1, policies.KEEP + 2):
        limits_policy = ValidationPolicy(today=dt.date(2024, 3, day),
                                         current_classification=dt.date(2000 + day, 1, 1))
        ref, fixed = shipper.split(limits_policy)
        assert policies.resolve(ref, None) is None  # never sent to this process
        whole = policies.resolve(ref, fixed)
        assert whole is not None and whole.today == dt.date(2024, 3, day)
        refs.append(ref)
    assert policies.resolve(refs[0], None) is None  # the oldest was let go
    assert policies.resolve(refs[-1], None) is not None


# -- the receipt's token and signed answer, made in the worker -----------------------------------

@pytest.fixture
async def receipting_engine(tmp_path, pki):
    """The engine as `build_simulator` makes it: receipts made in a real worker process."""
    store = SqliteStore.open(tmp_path / "data")
    store.ensure_convention(SIREN, "SLO")
    clock = VirtualClock(NOW)
    tsa = authority_from_pki(pki.directory, clock=clock.now)
    pool = RecordingPool()
    engine = Engine(store=AsyncStore(store), clock=clock,
                    policy=lambda: ValidationPolicy(today=clock.today(), trust=pki.trust_store(),
                                                    received_at=clock.now()),
                    stamp=tsa.stamp_digest, sign=lambda xml: sign_outgoing(xml, pki),
                    classification=default_classification, executor=pool,
                    receipts=ReceiptSigners(tsa, lambda: ministere_material(pki), clock.now,
                                            lambda: default_classification().date))
    yield engine, pool, tsa, store
    pool.shutdown()
    store.close()


async def test_the_receipt_keys_travel_once_and_the_worker_stamps_and_signs(
        receipting_engine, pki, tmp_path):
    engine, pool, tsa, store = receipting_engine
    outcomes = [await _submit(engine, f"REC_00{i}", tmp_path / str(i)) for i in range(1, 4)]
    assert [o.code for o in outcomes] == ["1-2"] * 3
    # First act: asked without, then sent the policy and the keys; then one small call per act
    # (the token and the ARActe come back with the examination).
    assert len(pool.sent) == 2 + 2
    assert pool.sent[1] > 10_000 and max(pool.sent[2:]) < 2_000
    serials = set()
    for outcome in outcomes:
        row = outcome.transaction
        messages = {m.code: m for m in store.messages(row.id)}
        token = store.blobs.read(messages["1-1"].timestamp_token_sha256)
        verified = verify_token(token, tsa_certificate=tsa.certificate,
                                data=store.blobs.read(row.archive_sha256))
        assert verified.gen_time == NOW  # the service's clock, not the worker's
        serials.add(verified.serial_number)
        answer = messages["1-2"]
        xml, signature = store.blobs.read(answer.xml_sha256), store.blobs.read(
            answer.signature_sha256)
        folder = tmp_path / f"verify-{row.id}"
        folder.mkdir()
        (folder / "m.xml").write_bytes(xml)
        (folder / "m.p7s").write_bytes(signature)
        checked = subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", folder / "m.p7s",
             "-content", folder / "m.xml", "-CAfile", pki.roots_path, "-purpose", "any",
             "-out", os.devnull], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        assert outcome.id_acte.encode() in xml  # the answer the worker built is this act's
    assert len(serials) == 3  # each token its own serial, handed out by the service
