"""The validation worker processes of a served simulator."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

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


# -- the pool's own contract --------------------------------------------------------------------

def _raise(kind: type[Exception], text: str) -> None:
    raise kind(text)


def _unpicklable_answer() -> object:
    return threading.Lock()  # a lock does not pickle


def _wait_for(path: str) -> str:
    while not os.path.exists(path):
        time.sleep(0.01)
    return "released"


def _touch(path: str) -> None:
    open(path, "w").close()


def test_errors_reach_the_caller_and_the_worker_serves_on(tmp_path):
    pool = WorkerPool(1)
    try:
        with pytest.raises(ValueError, match="refusé"):
            pool.submit(_raise, ValueError, "refusé").result(timeout=120)
        with pytest.raises(RuntimeError, match="TypeError"):  # the answer did not pickle
            pool.submit(_unpicklable_answer).result(timeout=120)
        with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
            pool.submit(lambda: None).result(timeout=120)  # the job did not pickle
        first = pool.submit(os.getpid).result(timeout=120)
        assert pool.submit(os.getpid).result(timeout=120) == first  # the same worker
        assert pool.rebuilds == 0
    finally:
        pool.end()


def test_a_job_cancelled_while_waiting_never_runs(tmp_path):
    pool = WorkerPool(1)
    release, ran = str(tmp_path / "release"), str(tmp_path / "ran")
    try:
        busy = pool.submit(_wait_for, release)
        waiting = pool.submit(_touch, ran)
        assert waiting.cancel()
        _touch(release)
        assert busy.result(timeout=120) == "released"
        assert pool.submit(os.getpid).result(timeout=120) > 0  # runs after the cancelled one
        assert not os.path.exists(ran)
    finally:
        pool.end()


def test_a_long_job_does_not_hold_back_the_next_one(tmp_path):
    """Its one worker busy past SPARE_AFTER, a pool of one runs the next job on a spare (a
    100 MB archive's examination does not stall the small envelopes sent meanwhile)."""
    pool = WorkerPool(1)
    release = str(tmp_path / "release")
    try:
        first = pool.submit(os.getpid).result(timeout=120)  # the worker is up
        long = pool.submit(_wait_for, release)
        assert pool.submit(os.getpid).result(timeout=60) != first
        assert not long.done()
        _touch(release)
        assert long.result(timeout=60) == "released"
    finally:
        _touch(release)  # a failed run still ends its pool
        pool.end()


def test_short_jobs_run_on_no_more_workers_than_the_size(tmp_path):
    """Jobs sent faster than one worker answers queue for it rather than start more (the
    spare waits for a long job; here it may not come before 60 s: a slow machine's stall
    cannot call it)."""
    pool = WorkerPool(1, spare_after=60)
    try:
        first = pool.submit(os.getpid).result(timeout=120)
        with ThreadPoolExecutor(max_workers=8) as callers:
            pids = set(callers.map(lambda _: pool.submit(os.getpid).result(timeout=60),
                                   range(200)))
        assert pids == {first}
    finally:
        pool.end()


def test_shutdown_lets_running_jobs_finish_and_leaves_no_worker(tmp_path):
    pool = WorkerPool(2)
    release = str(tmp_path / "release")
    jobs = [pool.submit(_wait_for, release) for _ in range(2)]
    workers = {pool.submit(os.getpid) for _ in range(2)}
    _touch(release)
    pool.shutdown(wait=True)
    assert [job.result(timeout=0) for job in jobs] == ["released", "released"]
    pids = {future.result(timeout=0) for future in workers}
    with pytest.raises(RuntimeError):
        pool.submit(os.getpid)
    pool.end()
    assert not any(_alive(pid) for pid in pids)


def test_an_ended_pool_leaves_no_descriptor_open(tmp_path):
    """Servers in one process start and end many pools (the test suite, the pytest plugin)."""
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        pool = WorkerPool(1)
        assert pool.submit(os.getpid).result(timeout=120) != os.getpid()
        pool.end()
    unused = WorkerPool(1)  # never started a worker
    unused.shutdown()
    assert set(os.listdir("/proc/self/fd")) <= before
