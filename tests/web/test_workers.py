"""The validation worker processes of a served simulator."""

from __future__ import annotations

import os
import signal
import time

import pytest

from operator_sim.config import Config
from operator_sim.engine.workers import WorkerLost, WorkerPool
from operator_sim.simulator import build_simulator
from operator_sim.web.faults import JSON_STATUS, fault_of

from .simkit import SIREN, act, serve, submit

pytestmark = pytest.mark.slow  # worker processes started and killed


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


# -- a worker killed from outside (the OOM killer) -------------------------------------------------

def _die_once(marker: str) -> str:
    """Kill the worker running this the first time (as the OOM killer would), answer after."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return "answered"


def _always_die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_job_whose_worker_is_killed_runs_once_more_on_a_new_pool(tmp_path):
    pool = WorkerPool(1)
    try:
        assert pool.submit(_die_once, str(tmp_path / "marker")).result(timeout=120) == "answered"
        assert pool.rebuilds == 1
        assert pool.submit(os.getpid).result(timeout=120) != os.getpid()
    finally:
        pool.end()


def test_a_job_that_kills_its_worker_twice_is_lost_and_the_pool_still_serves(tmp_path):
    pool = WorkerPool(1)
    try:
        with pytest.raises(WorkerLost):
            pool.submit(_always_die).result(timeout=120)
        assert JSON_STATUS[fault_of(WorkerLost()).kind] == 503
        assert pool.submit(_die_once, str(tmp_path / "marker")).result(timeout=120) == "answered"
    finally:
        pool.end()


async def test_submissions_after_a_worker_is_sigkilled_are_acknowledged(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, processes=True) as served:
        agent = served.enrol(SIREN)
        executor = served.simulator.executor
        async with served.agent_session(agent) as http:
            assert (await submit(http, act("KILL1")))[0] == 201
            worker = executor.submit(os.getpid).result(timeout=120)
            os.kill(worker, signal.SIGKILL)
            for _ in range(200):  # until the pool has seen its worker die
                if not _alive(worker):
                    break
                time.sleep(0.05)
            for numero in ("KILL2", "KILL3"):
                status, body = await submit(http, act(numero))
                assert status == 201 and body["outcome"] == "1-2", body


def _alive(pid: int) -> bool:
    """Workers are the fork server's children: it reaps them."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
