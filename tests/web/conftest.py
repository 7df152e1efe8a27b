"""A simulator served on ephemeral loopback ports (real TLS, real SQLite) for web tests."""

from __future__ import annotations

import pytest

from operator_sim.config import Config
from operator_sim.web.app import build_simulator
from operator_sim.web.server import running


@pytest.fixture(scope="module")
def shared_pki_dir(tmp_path_factory):
    """One PKI per test module: creating it is the slow part, and tests do not alter the CAs."""
    return tmp_path_factory.mktemp("pki") / "certs"


@pytest.fixture
async def served(tmp_path, shared_pki_dir):
    """A running simulator with a fresh database; `.enrol(siren)` issues agents."""
    config = Config(data_dir=tmp_path / "data", pki_dir=shared_pki_dir, workers=1,
                    api_port=0, admin_port=0)
    simulator = build_simulator(config, processes=False)
    try:
        async with running(simulator) as served:
            yield served
    finally:
        simulator.close()
