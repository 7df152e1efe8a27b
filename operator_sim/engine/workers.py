"""The validation worker processes, kept alive through the loss of one of them.

A worker killed from outside (the OOM killer, an operator's `kill -9`) breaks a
`ProcessPoolExecutor` for good: every later submit raises `BrokenProcessPool`. `WorkerPool`
is an `Executor` that then builds a fresh pool and sends each job that was lost with the old
one once more; a job whose second run is lost too raises `WorkerLost` (the caller answers 503:
it may be the job itself that kills its worker).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver, resource_tracker
from typing import Any

log = logging.getLogger(__name__)


class WorkerLost(BrokenProcessPool):
    """A job's worker died under it twice (the pool was rebuilt in between)."""


class WorkerPool(Executor):
    """`ProcessPoolExecutor`s started by a fork server, replaced when one breaks.

    Workers are never forked from the server itself: its other threads (store writer and
    readers, signing jobs) may hold a lock at that instant, which the child would then wait
    for forever. `end()` stops the workers, the fork server and the resource tracker too.
    """

    def __init__(self, workers: int, *, preload: tuple[str, ...] = (),
                 initializer: Callable[[], object] | None = None) -> None:
        self._context = multiprocessing.get_context("forkserver")
        if preload:
            self._context.set_forkserver_preload(list(preload))
        self._workers = workers
        self._initializer = initializer
        self._lock = threading.Lock()
        self._closed = False
        self._pool = self._new_pool()
        self.rebuilds = 0
        """How many times a broken pool was replaced (for the logs and the tests)."""

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self._workers, mp_context=self._context,
                                   initializer=self._initializer)

    def _current(self, broken: ProcessPoolExecutor | None = None) -> ProcessPoolExecutor:
        """The pool to submit to: a new one if `broken` is still the current one."""
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if broken is not None and broken is self._pool:
                log.warning("a validation worker died (killed from outside?): starting %d new "
                            "worker(s) and sending the lost jobs once more", self._workers)
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                self.rebuilds += 1
            return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        outer: Future[Any] = Future()

        def attempt(retry: bool, broken: ProcessPoolExecutor | None) -> None:
            try:
                pool = self._current(broken)
                for _ in range(3):  # broken before this job ran: that costs it no attempt
                    try:
                        inner = pool.submit(fn, *args, **kwargs)
                        break
                    except BrokenProcessPool:
                        pool = self._current(pool)
                else:
                    raise WorkerLost("new validation workers keep dying at start")
            except BaseException as exc:  # shut down meanwhile, or lost for good
                if outer.set_running_or_notify_cancel():
                    outer.set_exception(exc)
                return

            def done(finished: Future[Any]) -> None:
                if finished.cancelled():
                    outer.cancel()
                    return
                error = finished.exception()
                if isinstance(error, BrokenProcessPool):
                    if retry:
                        attempt(False, pool)
                        return
                    error = WorkerLost("the validation worker died twice on this job")
                if not outer.set_running_or_notify_cancel():
                    return
                if error is None:
                    outer.set_result(finished.result())
                else:
                    outer.set_exception(error)

            inner.add_done_callback(done)

        attempt(True, None)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pool = self._pool
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def end(self) -> None:
        """Stop the workers (jobs waiting are cancelled), then the fork server and the
        resource tracker this process started: nothing of ours is left orphaned."""
        self.shutdown(wait=True, cancel_futures=True)
        end_helpers()


def end_helpers() -> None:
    """Stop multiprocessing's fork server and resource tracker of this process, if running.

    Both outlive a pool by design (they serve the whole process) and stop by themselves only
    when this process exits normally; a server stopped by a signal must end them itself."""
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()


__all__ = ["WorkerLost", "WorkerPool", "end_helpers"]
