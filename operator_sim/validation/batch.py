"""Validate many archives: discovery, parallel workers, progress, and report renderings.

Large batches are spread over processes (validation is CPU-bound and the GIL would serialise
threads), forked once everything is imported and the schemas compiled — when this process runs
one thread. Fork copies only the calling thread: a lock another thread held (in malloc,
libxml2, SQLite, logging…) would stay locked for ever in the child, which could hang or crash.
A multi-threaded caller (a server, a test run) has its batch validated in-process instead:
spawned workers would each import the validator and compile the schemas (measured slower
than the serial loop on 1,000 archives with 2 jobs), leave multiprocessing's resource tracker
behind, and re-run a main script that lacks the `__main__` guard.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import selectors
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn

from lxml import etree

from .registry import default_registry
from .report import ValidationReport, utf8_text, xml_text
from .validator import ValidationPolicy, validate_file

ARCHIVE_SUFFIX = ".tar.gz"
PARALLEL_THRESHOLD = 32


def find_archives(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and every `*.tar.gz` below each folder, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(path.joinpath(*parts) for parts in sorted(_archives_below(path)))
        else:
            found.append(path)
    return found


def _archives_below(folder: Path) -> list[tuple[str, ...]]:
    """Relative parts of the `*.tar.gz` files below `folder`, as `Path.rglob` finds them (a
    symbolic link to a folder is not entered, an unreadable folder is skipped), minus the
    cost of building a Path for every entry."""
    found: list[tuple[str, ...]] = []
    pending: list[tuple[str, ...]] = [()]
    while pending:
        parts = pending.pop()
        try:
            with os.scandir(os.path.join(folder, *parts)) as entries:
                for entry in entries:
                    if entry.is_dir() and not entry.is_symlink():
                        pending.append((*parts, entry.name))
                    if entry.name.endswith(ARCHIVE_SUFFIX) and entry.is_file():
                        found.append((*parts, entry.name))
        except PermissionError:
            continue
    return found


def validate_many(archives: Sequence[Path], policy: ValidationPolicy, *, jobs: int = 1,
                  on_done: Callable[[ValidationReport], object] | None = None
                  ) -> list[ValidationReport]:
    """Validate archives in order; with jobs > 1 and a large batch, across processes.

    `on_done` sees every report in archive order. Workers are forked when that is safe (POSIX,
    this process runs one thread); otherwise the batch runs in this process.
    """
    if jobs > 1 and len(archives) >= PARALLEL_THRESHOLD and _fork_is_safe():
        return _validate_forked(archives, policy, jobs, on_done)
    reports: list[ValidationReport] = []
    for path in archives:
        report = validate_file(path, policy)
        reports.append(report)
        if on_done:
            on_done(report)
    return reports


def _fork_is_safe() -> bool:
    """True when this process can fork: POSIX, and no thread but this one (those of C
    libraries included, which `threading` does not know of)."""
    if not hasattr(os, "fork"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc (macOS, BSD)
        return threading.active_count() == 1


_MAX_CHUNKS = 1024
"""Chunk numbers (4 bytes each) all go into the work pipe before any reader exists: 4 KiB at
most, which an empty pipe takes at once."""
_NUMBER = struct.Struct("<I")


def _validate_forked(archives: Sequence[Path], policy: ValidationPolicy, jobs: int,
                     on_done: Callable[[ValidationReport], object] | None
                     ) -> list[ValidationReport]:
    """This process and jobs - 1 forked children take chunks of the batch from one pipe.

    Forked after every import and the schema compilation, the children start at once, with
    nothing to import or unpickle; each sends (chunk number, reports) back through its own
    pipe and leaves with os._exit. The parent validates chunks too, reads the children's
    results between its own, and hands the reports on in archive order.
    """
    default_registry()
    size = -(-len(archives) // min(jobs * 16, len(archives), _MAX_CHUNKS))
    chunks = [archives[i:i + size] for i in range(0, len(archives), size)]
    results: list[list[ValidationReport] | None] = [None] * len(chunks)
    work_read, work_write = os.pipe()
    os.write(work_write, b"".join(_NUMBER.pack(n) for n in range(len(chunks))))
    os.close(work_write)
    children: dict[int, int] = {}  # result pipe → child pid
    selector = selectors.DefaultSelector()
    buffers: dict[int, bytearray] = {}
    handed = 0

    def hand_on() -> None:
        nonlocal handed
        while handed < len(results) and (done := results[handed]) is not None:
            handed += 1
            if on_done:
                for report in done:
                    on_done(report)

    def collect(timeout: float | None) -> None:
        for key, _ in selector.select(timeout):
            fd = key.fd
            data = os.read(fd, 1 << 16)
            if not data:
                selector.unregister(fd)
                continue
            buffer = buffers[fd]
            buffer += data
            while len(buffer) >= 4:
                length = _NUMBER.unpack_from(buffer)[0]
                if len(buffer) < 4 + length:
                    break
                number, payload = pickle.loads(buffer[4:4 + length])
                del buffer[:4 + length]
                if number is None:
                    raise _worker_error(*payload)
                results[number] = payload

    gc.freeze()  # the collector would otherwise touch, so copy, every page the children share
    finished = False
    try:
        for _ in range(min(jobs, len(chunks)) - 1):
            result_read, result_write = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(result_read)
                os.close(result_write)
                raise
            if pid == 0:
                _child(work_read, result_write, chunks, policy)
            os.close(result_write)
            children[result_read] = pid
            buffers[result_read] = bytearray()
            selector.register(result_read, selectors.EVENT_READ)
        while (number := _next_chunk(work_read)) is not None:
            results[number] = [validate_file(path, policy) for path in chunks[number]]
            collect(0)
            hand_on()
        while selector.get_map():
            collect(None)
            hand_on()
        if handed < len(results):
            raise RuntimeError(f"a validation worker stopped before sending its reports "
                               f"(chunk {handed} of {len(results)} missing)")
        finished = True  # every child closed its pipe: they have all exited
    finally:
        gc.unfreeze()
        selector.close()
        os.close(work_read)
        for fd, pid in children.items():
            os.close(fd)
            if not finished:
                import signal

                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    return [report for done in results for report in done or ()]


def _next_chunk(work: int) -> int | None:
    data = os.read(work, 4)  # a pipe hands each 4-byte number to one reader only
    return _NUMBER.unpack(data)[0] if len(data) == 4 else None


def _child(work: int, out: int, chunks: list[Sequence[Path]], policy: ValidationPolicy) -> NoReturn:
    """A forked worker's whole life: validate chunks, send them, exit without cleanup."""
    status = 0
    try:
        while (number := _next_chunk(work)) is not None:
            _send(out, (number, [validate_file(path, policy) for path in chunks[number]]))
    except KeyboardInterrupt:
        status = 1  # Ctrl-C reached the whole process group: the parent stops too
    except BaseException as exc:  # a bug: raised again in the parent, with this traceback
        import traceback

        status = 1
        try:
            error = pickle.dumps(exc)
        except Exception:
            error = None
        with contextlib.suppress(BaseException):
            _send(out, (None, (traceback.format_exc(), error)))
    finally:
        os._exit(status)


def _worker_error(text: str, pickled: bytes | None) -> BaseException:
    """The exception a worker raised (its traceback as the cause), or a RuntimeError with it."""
    remote = RuntimeError(f"in a validation worker:\n{text}")
    try:
        error = pickle.loads(pickled) if pickled is not None else remote
    except Exception:
        error = remote
    if error is not remote:
        error.__cause__ = remote
    return error


def _send(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_NUMBER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def render_text(reports: Sequence[ValidationReport]) -> str:
    lines = []
    for report in reports:
        mark = "OK " if report.valid else "KO "
        profile = f" [{report.profile}]" if report.profile else ""
        lines.append(f"{mark} {report.source}{profile}")
        for f in report.findings:
            where = f" ({f.location})" if f.location else ""
            lines.append(f"    {f.severity.value.upper():7} {f.code}{where}: {f.message_fr}")
    invalid = sum(not r.valid for r in reports)
    lines.append(f"{len(reports)} archive(s), {len(reports) - invalid} valid, {invalid} invalid")
    return utf8_text("\n".join(lines) + "\n")


def render_json(reports: Sequence[ValidationReport]) -> str:
    invalid = sum(not r.valid for r in reports)
    return json.dumps({
        "summary": {"archives": len(reports), "valid": len(reports) - invalid,
                    "invalid": invalid},
        "reports": [r.to_dict() for r in reports],
    }, ensure_ascii=False, indent=2) + "\n"


def render_junit(reports: Sequence[ValidationReport]) -> str:
    """JUnit XML: one testcase per archive, one failure listing its errors when invalid."""
    invalid = sum(not r.valid for r in reports)
    suite = etree.Element("testsuite", name="operator-sim validate", tests=str(len(reports)),
                          failures=str(invalid), errors="0")
    for report in reports:
        case = etree.SubElement(suite, "testcase", classname="operator-sim.validate",
                                name=xml_text(report.source))
        if not report.valid:
            first = report.errors[0]
            failure = etree.SubElement(case, "failure", type=first.code,
                                       message=xml_text(first.message_en))
            failure.text = xml_text(_lines(report.errors))
        if report.warnings:
            etree.SubElement(case, "system-out").text = xml_text(_lines(report.warnings))
    return etree.tostring(suite, xml_declaration=True, encoding="UTF-8",
                          pretty_print=True).decode("utf-8")


def _lines(findings: Sequence) -> str:
    return "\n".join(f"{f.code} ({f.location}): {f.message_en}" for f in findings)


RENDERERS: dict[str, Callable[[Sequence[ValidationReport]], str]] = {
    "text": render_text, "json": render_json, "junit": render_junit,
}
