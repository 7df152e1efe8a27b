"""The validation worker processes, kept alive through the loss of one of them.

Each worker is a process started by a fork server, with a pipe of its own: a job is pickled
and written straight to an idle worker's pipe by the thread that submits it, and one collector
thread waits on every pipe and every worker's exit at once. `ProcessPoolExecutor` spends two
threads (a queue feeder and a manager woken through a pipe at every submit) on each job; under
load they held the interpreter lock about a tenth of the time the service ran.

A worker killed from outside (the OOM killer, an operator's `kill -9`) is replaced when next
needed, and the job it was running is sent once more; a job whose second run is lost too raises
`WorkerLost` (the caller answers 503: it may be the job itself that kills its worker).

At most `workers` jobs run at once, plus one on a spare worker while every busy worker has
spent `SPARE_AFTER` on its job: a long examination (a 100 MB archive) does not hold the next
small ones back, and short jobs never spread over more processes than the size.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, InvalidStateError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

ATTEMPTS = 2
"""Runs a job gets when its worker dies under it."""

SPARE_AFTER = 0.2
"""Seconds every busy worker must have spent on its job before a waiting job runs on a spare
(an @ctes envelope's examination takes about a millisecond; a 30 MB archive's, 0.3 s)."""


class WorkerLost(BrokenProcessPool):
    """A job's worker died under it twice (the pool was rebuilt in between)."""


@dataclass(eq=False)
class _Job:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    runs: int = 0


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    pipe: Connection
    job: _Job | None = None
    since: float = 0.0
    """When its job was sent (monotonic)."""
    stopping: bool = False


@dataclass(eq=False)
class _Failure:
    """An exception the worker could not send as itself (it does not pickle)."""

    kind: str
    text: str

    def exception(self) -> RuntimeError:
        return RuntimeError(f"{self.kind}: {self.text}")


def _serve(pipe: Connection, initializer: Callable[[], object] | None) -> None:
    """A worker's life: run each job read from `pipe`, answer (ok, value); None ends it."""
    if initializer is not None:
        initializer()
    while True:
        try:
            message = pipe.recv()
        except EOFError:  # the pool is gone
            return
        if message is None:
            return
        fn, args, kwargs = message
        try:
            answer: tuple[bool, object] = (True, fn(*args, **kwargs))
        except BaseException as error:  # sent back to the caller, as an executor does
            answer = (False, error)
        try:
            pipe.send(answer)
        except Exception as error:  # an answer that does not pickle
            value = answer[1] if not answer[0] else error
            pipe.send((False, _Failure(type(value).__name__, str(value))))


@dataclass(eq=False)
class _State:
    """What the pool's lock guards."""

    workers: list[_Worker] = field(default_factory=list)
    queue: deque[_Job] = field(default_factory=deque)
    closed: bool = False


class WorkerPool(Executor):
    """Up to `workers` processes, started on demand by a fork server, replaced when one dies.

    Workers are never forked from the server itself: its other threads (store writer and
    readers, signing jobs) may hold a lock at that instant, which the child would then wait
    for forever. `end()` stops the workers, the fork server and the resource tracker too.
    """

    def __init__(self, workers: int, *, preload: tuple[str, ...] = (),
                 initializer: Callable[[], object] | None = None,
                 spare_after: float = SPARE_AFTER) -> None:
        self._context = multiprocessing.get_context("forkserver")
        if preload:
            self._context.set_forkserver_preload(list(preload))
        self._size = max(1, workers)
        self._spare_after = spare_after
        self._initializer = initializer
        self._lock = threading.Lock()
        self._state = _State()
        self._wake_read, self._wake_write = os.pipe()  # the collector's set of workers changed
        self._wake_open = True
        self._collector: threading.Thread | None = None
        self.rebuilds = 0
        """How many dead workers were replaced (for the logs and the tests)."""

    # -- submitting ------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._state.closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._state.queue.append(_Job(future, fn, args, kwargs))
            self._dispatch()
        return future

    def _dispatch(self) -> None:
        """Send waiting jobs to idle workers, starting workers as needed, while fewer than
        the size run (one more when all of them are long: `SPARE_AFTER`; lock held)."""
        state = self._state
        while state.queue:
            if state.queue[0].future.cancelled():  # never runs, nor starts a worker
                state.queue.popleft()
                continue
            if not self._may_start_one(time.monotonic()):
                return
            worker = next((w for w in state.workers if w.job is None and not w.stopping), None)
            if worker is None:
                if len(state.workers) > self._size or state.closed:
                    return
                worker = self._start()
            job = state.queue.popleft()
            job.runs += 1
            worker.job, worker.since = job, time.monotonic()
            try:
                worker.pipe.send((job.fn, job.args, job.kwargs))
            except (OSError, EOFError):  # the worker died idle: the collector will see it
                worker.job, worker.stopping = None, True
                job.runs -= 1
                state.queue.appendleft(job)
            except Exception as error:  # the job does not pickle: its caller's error
                worker.job = None
                _settle(job.future, False, error)

    def _busy_since(self) -> list[float]:
        """When each busy worker was sent its job (lock held)."""
        return [w.since for w in self._state.workers if w.job is not None]

    def _may_start_one(self, now: float) -> bool:
        """Whether one more job may run now (lock held)."""
        busy = self._busy_since()
        return len(busy) < self._size \
            or (len(busy) == self._size and now - max(busy) >= self._spare_after)

    def _spare_at(self) -> float | None:
        """When a waiting job may have the spare worker (monotonic; None: no job waits for
        it; lock held)."""
        busy = self._busy_since()
        if not self._state.queue or len(busy) != self._size or self._state.closed:
            return None
        return max(busy) + self._spare_after

    def _start(self) -> _Worker:
        """A new worker process (lock held); the collector is told to wait on it too."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(theirs, self._initializer),
                                        daemon=True, name="operator-sim-validation")
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        self._state.workers.append(worker)
        if self._collector is None:
            self._collector = threading.Thread(target=self._collect, daemon=True,
                                               name="validation-results")
            self._collector.start()
        else:
            self._wake()
        return worker

    # -- collecting ------------------------------------------------------------------------

    def _collect(self) -> None:
        """Answer each job when its worker does; notice workers that die. Runs until the
        pool is shut down and every worker has ended."""
        while True:
            with self._lock:
                workers = list(self._state.workers)
                if self._state.closed and not workers:
                    while self._state.queue:
                        _settle(self._state.queue.popleft().future, False,
                                WorkerLost("the pool was shut down"))
                    return
                self._dispatch()  # a waiting job whose time for the spare has come
                until = self._spare_at()
            # Until the spare may be due, or `spare_after` at most: a job queued meanwhile is
            # seen without a wake-up per job (a few looks a second when idle).
            due = self._spare_after if until is None else max(0.0, until - time.monotonic())
            by_handle: dict[Connection | int, _Worker] = {}
            for worker in workers:
                by_handle[worker.pipe] = worker
                by_handle[worker.process.sentinel] = worker
            ready = wait([self._wake_read, *by_handle], timeout=due)
            if self._wake_read in ready:
                os.read(self._wake_read, 4096)
            answered = {by_handle[h] for h in ready if isinstance(h, Connection)}
            ended = {by_handle[h] for h in ready if isinstance(h, int) and h in by_handle}
            for worker in answered:
                self._answer(worker)
            for worker in ended:
                if worker.pipe.poll():  # it answered before it ended: that answer counts
                    self._answer(worker)
                self._bury(worker)

    def _answer(self, worker: _Worker) -> None:
        try:
            ok, value = worker.pipe.recv()
        except (EOFError, OSError):
            return  # it died: its sentinel says so too
        with self._lock:
            job, worker.job = worker.job, None
            self._dispatch()
            if self._state.closed and worker.job is None and not worker.stopping:
                self._stop(worker)
        if job is not None:
            _settle(job.future, ok, value.exception() if isinstance(value, _Failure) else value)

    def _bury(self, worker: _Worker) -> None:
        """A worker ended: its job runs once more elsewhere, or is lost."""
        worker.process.join(timeout=0)
        worker.pipe.close()
        with self._lock:
            if worker not in self._state.workers:
                return
            self._state.workers.remove(worker)
            job = worker.job
            if self._state.closed:
                if job is not None:
                    _settle(job.future, False, WorkerLost("the pool was shut down"))
                return
            if job is not None or worker.process.exitcode not in (0, None):
                log.warning("a validation worker died (exit %s, killed from outside?): a new "
                            "one starts when needed%s", worker.process.exitcode,
                            ", and its job runs once more" if job and job.runs < ATTEMPTS else "")
                self.rebuilds += 1
            if job is not None:
                if job.runs < ATTEMPTS:
                    self._state.queue.appendleft(job)
                else:
                    _settle(job.future, False,
                            WorkerLost("the validation worker died twice on this job"))
            self._dispatch()

    # -- ending ----------------------------------------------------------------------------

    def _stop(self, worker: _Worker) -> None:
        """Ask an idle worker to end (lock held)."""
        worker.stopping = True
        with contextlib.suppress(OSError):
            worker.pipe.send(None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._state.closed = True
            if cancel_futures:
                while self._state.queue:
                    self._state.queue.popleft().future.cancel()
            if not self._state.queue:
                for worker in self._state.workers:
                    if worker.job is None and not worker.stopping:
                        self._stop(worker)
            collector = self._collector
            if collector is not None:
                self._wake()
        if wait and collector is not None:
            collector.join()
        if wait or collector is None:  # no collector reads the wake-up pipe any more
            with self._lock:
                if self._wake_open:
                    self._wake_open = False
                    os.close(self._wake_read)
                    os.close(self._wake_write)

    def _wake(self) -> None:
        """Make the collector wait again on the current workers (lock held)."""
        if self._wake_open:
            os.write(self._wake_write, b"w")

    def end(self) -> None:
        """Stop the workers (jobs waiting are cancelled), then the fork server and the
        resource tracker this process started: nothing of ours is left orphaned."""
        self.shutdown(wait=True, cancel_futures=True)
        end_helpers()


def _settle(future: Future[Any], ok: bool, value: Any) -> None:
    """Answer a job's caller, unless it cancelled meanwhile (a job's future stays pending
    while it runs, so that a job whose worker died can run again)."""
    try:
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    except InvalidStateError:
        pass


def end_helpers() -> None:
    """Stop multiprocessing's fork server and resource tracker of this process, if running.

    Both outlive a pool by design (they serve the whole process) and stop by themselves only
    when this process exits normally; a server stopped by a signal must end them itself."""
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()


__all__ = ["WorkerLost", "WorkerPool", "end_helpers"]
