"""The validation worker processes of a served simulator."""

from __future__ import annotations

import os

from operator_sim.config import Config
from operator_sim.web.app import build_simulator


def test_validation_workers_are_not_forked_from_the_threaded_server(tmp_path, shared_pki_dir):
    """A child forked from the server could inherit a lock another of its threads held."""
    config = Config(data_dir=tmp_path / "data", pki_dir=shared_pki_dir, workers=2, api_port=0,
                    admin_port=0)
    simulator = build_simulator(config)
    try:
        assert simulator.executor is not None
        parents = {simulator.executor.submit(os.getppid).result(timeout=120) for _ in range(4)}
    finally:
        simulator.close()
    assert os.getpid() not in parents
