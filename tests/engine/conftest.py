"""The intake's engine (real SQLite, PKI, TSA) for every engine test module, over one test PKI
per session: the engine only reads it (signs, stamps, judges), and making one takes seconds."""

import datetime as dt

import pytest

from operator_sim.pki import PkiStore
from operator_sim.pki.profiles import RSA_2048

from .test_intake import NOW, engine  # noqa: F401


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiStore:
    store = PkiStore(tmp_path_factory.mktemp("engine-pki") / "certs")
    store.initialise(now=NOW - dt.timedelta(days=1), ca_key=RSA_2048)
    return store
