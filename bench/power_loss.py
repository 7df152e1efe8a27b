"""Power-loss check by fsync accounting: was everything an answer promises on disk when it left?

A SIGKILL (`crash.py`) keeps the page cache, so it cannot tell a written file from a synced
one; losing power drops both. Without root-only tricks (a loop device unmounted without sync,
dm-flakey), the kernel's own record of what the service asked for is the next best thing:
`strace` follows the running service (server, threads, fork server, validation workers) and
logs every write, rename, mkdir, unlink, fsync and fdatasync in its data folder, and every send
on its API sockets. Replaying that log, a file is dirty from its first write until an fsync of
it, and a directory entry (a created, renamed or linked name; a new folder) is pending until
an fsync of its folder. One client posts one envelope at a time over keep-alive mutual TLS, so
everything the service writes between two answers belongs to the one submission in flight:
each 201 must leave with no file dirty and no name pending, and at least one sync since the
previous answer. SQLite's write-ahead log is read frame by frame (the frames' bytes are in the
log): the last transaction whose pages hold the submission's NumeroInterne (its row, and any
later change to it, rewrites that page) must be committed and a sync of the log started after
its commit frame must have returned before the answer. Later transactions may still be in
flight then: the request journal's rows join the next commit after the answer, by design
(`web/journal.py`: they may be lost, never what the request stored). SQLite's shared-memory
index (`-shm`) is not durable by design and is left out. Also a count of the syncs a
submission costs.

    python bench/power_loss.py [--count 40]
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` when run as a script

from bench import _driver, _report, _service

SYSCALLS = ("write,pwrite64,writev,pwritev,pwritev2,sendto,sendmsg,fsync,fdatasync,openat,"
            "open,creat,rename,renameat,renameat2,link,linkat,mkdir,mkdirat,unlink,unlinkat,"
            "rmdir,ftruncate,fallocate,copy_file_range,sendfile")
WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "ftruncate", "fallocate",
          "copy_file_range", "sendfile"}
SENDS = {"write", "writev", "sendto", "sendmsg", "sendfile"}
SYNCS = {"fsync", "fdatasync"}
LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<time>[\d.]+)\s+(?:(?P<call>\w+)\((?P<args>.*?)"
                  r"(?: <unfinished \.\.\.>|\)\s+=\s+(?P<ret>-?\d+)(?P<retpath><[^>]*>)?.*)"
                  r"|<\.\.\. (?P<resumed>\w+) resumed>.*?=\s+(?P<rret>-?\d+).*)$")
FD_PATH = re.compile(r"^-?\d+<(?P<path>.*)>$")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass
class Verdict:
    """What the replay found."""

    answers: int = 0
    syncs: int = 0
    problems: list[str] = field(default_factory=list)
    syncs_between_answers: list[int] = field(default_factory=list)
    lines: int = 0


@dataclass
class _Wal:
    """The write-ahead log as the trace shows it: transactions (their pages' bytes, when their
    commit frame was written) and its syncs (start, end)."""

    path: str
    transactions: list[tuple[bytes, float]] = field(default_factory=list)
    open_pages: list[bytes] = field(default_factory=list)
    commit_next: bool = False
    syncs: list[tuple[float, float]] = field(default_factory=list)
    sync_started: float | None = None

    def frame(self, data: bytes, at: float) -> None:
        if len(data) == 24:  # a frame header; bytes 4-8: the database size on a commit frame
            self.commit_next = data[4:8] != b"\0\0\0\0"
        elif len(data) > 32:  # the page of the frame
            self.open_pages.append(data)
            if self.commit_next:
                self.transactions.append((b"".join(self.open_pages), at))
                self.open_pages, self.commit_next = [], False

    def durable(self, numero: bytes, answered: float) -> str | None:
        """None if the last transaction holding `numero` was synced before `answered`."""
        if any(numero in page for page in self.open_pages):
            return "its row is in a transaction not committed at the answer"
        committed = [at for pages, at in self.transactions if numero in pages]
        if not committed:
            return "its row never reached the write-ahead log"
        if not any(start >= committed[-1] and end <= answered for start, end in self.syncs):
            return (f"the log's transaction holding its row (committed {answered - committed[-1]:.3f}"
                    " s before) was not synced before the answer")
        return None


@dataclass
class _State:
    data_dir: str
    api_port: int
    numeros: list[bytes]
    wal: _Wal | None = None
    dirty: dict[str, float] = field(default_factory=dict)  # path: first unsynced write
    pending: dict[str, float] = field(default_factory=dict)  # entry path: when made
    pending_calls: dict[str, tuple[str, str]] = field(default_factory=dict)  # pid: (call, args)
    known: set[str] = field(default_factory=set)  # names that exist: O_CREAT on them makes none
    syncs_since_answer: int = 0

    def ours(self, path: str) -> bool:
        return (path == self.data_dir or path.startswith(self.data_dir + "/")) \
            and not path.endswith("-shm")

    def log(self, path: str) -> _Wal | None:
        if not path.endswith("-wal") or not self.ours(path):
            return None
        if self.wal is None:
            self.wal = _Wal(path)
        return self.wal if self.wal.path == path else None


def _answer(state: _State, verdict: Verdict, at: float) -> None:
    """An answer leaves: what it acknowledges must be on disk."""
    index = verdict.answers
    verdict.answers += 1
    verdict.syncs_between_answers.append(state.syncs_since_answer)
    late = [f"{p} (written {at - t:.3f} s before, never synced)"
            for p, t in sorted(state.dirty.items())]
    late += [f"{p} (name made {at - t:.3f} s before, folder never synced)"
             for p, t in sorted(state.pending.items())]
    if index >= len(state.numeros):
        late.append("an answer more than submissions sent")
    elif state.wal is None:
        late.append("no write to SQLite's write-ahead log at all")
    else:
        numero = state.numeros[index]
        reason = state.wal.durable(numero, at)
        if reason:
            late.append(f"{numero.decode()}: {reason}")
    if late:
        verdict.problems.append(f"answer {index + 1} at {at:.6f} sent with " + "; ".join(late))


def _first_arg(args: str) -> str:
    depth, out = 0, []
    for ch in args:
        if ch == "," and depth == 0:
            break
        depth += ch == "<"
        depth -= ch == ">"
        out.append(ch)
    return "".join(out).strip()


def _fd_path(args: str) -> str | None:
    match = FD_PATH.match(_first_arg(args))
    return match.group("path") if match else None


def _paths(args: str) -> list[str]:
    """The path arguments of a *at() or plain call, made absolute with their dirfd's path."""
    found, base = [], None
    for part in re.split(r",\s*(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", args):
        part = part.strip()
        dirfd = re.match(r"^(?:AT_FDCWD|-?\d+)<(.*)>$", part)
        if dirfd:
            base = dirfd.group(1)
            continue
        quoted = QUOTED.fullmatch(part)
        if quoted:
            path = quoted.group(1)
            found.append(path if path.startswith("/") or base is None
                         else os.path.normpath(os.path.join(base, path)))
            base = None
    return found


def _socket_port(args: str) -> int | None:
    """The local port of a TCP socket fd as `strace -yy` shows it."""
    match = re.match(r"^\d+<TCP(?:v6)?:\[(?P<local>.+?)->", _first_arg(args))
    if not match:
        return None
    return int(match.group("local").rsplit(":", 1)[1])


def _data(args: str) -> bytes:
    """The bytes of a write's buffer as `strace -x -s <big>` prints them."""
    match = QUOTED.search(args)
    return codecs.escape_decode(match.group(1).encode("latin-1"))[0] if match else b""


def replay(lines: Iterable[str], data_dir: Path, api_port: int, numeros: list[str], *,
           after: float = 0.0, existing: Iterable[str] = ()) -> Verdict:
    """Replay an `strace -f -yy -ttt -x -s 65536` log; the answers on `api_port` sent at or
    after `after` (epoch seconds) are checked, the n-th one as the 201 of `numeros[n]`.

    `existing`: the paths present when tracing began. An `open(O_CREAT)` of one of them (a new
    SQLite connection opening the database and its log) makes no new name."""
    state = _State(str(data_dir), api_port, [n.encode("ascii") for n in numeros],
                   known=set(existing))
    verdict = Verdict()
    for raw in lines:
        verdict.lines += 1
        match = LINE.match(raw.rstrip("\n"))
        if not match:
            continue
        pid, at = match.group("pid"), float(match.group("time"))
        if match.group("resumed"):
            call, args = state.pending_calls.pop(pid, (match.group("resumed"), ""))
            ret, retpath, phase = int(match.group("rret")), None, "exit"
        else:
            call, args = match.group("call"), match.group("args")
            if match.group("ret") is None:  # unfinished: writes and sends count from now,
                state.pending_calls[pid] = (call, args)  # syncs and names when they return
                phase, ret, retpath = "entry", 0, None
            else:
                phase, ret, retpath = "whole", int(match.group("ret")), match.group("retpath")
        if ret < 0:
            continue
        _apply(state, verdict, call, args, retpath, at, phase=phase, check=at >= after)
    return verdict


def _apply(state: _State, verdict: Verdict, call: str, args: str, retpath: str | None,
           at: float, *, phase: str, check: bool) -> None:
    """One system call's effect: writes and sends from their start (`entry` or `whole`),
    syncs and names once they returned (`exit` or `whole`)."""
    started, finished = phase != "exit", phase != "entry"
    port = _socket_port(args) if call in SENDS else None
    if port is not None:  # a socket: an answer when it is the API's
        if port == state.api_port and started:
            if check:
                _answer(state, verdict, at)
            state.syncs_since_answer = 0
        return
    path = _fd_path(args) if call in WRITES or call in SYNCS else None
    wal = state.log(path) if path else None
    if wal is not None:
        if call in WRITES and started and call.startswith("pwrite"):
            wal.frame(_data(args), at)
        elif call in WRITES and started:
            state.dirty.setdefault(path, at)  # not a frame: the strict rule
        elif call in SYNCS and started:
            wal.sync_started = at
        if call in SYNCS and finished:
            wal.syncs.append((at if wal.sync_started is None else wal.sync_started, at))
            wal.sync_started = None
    if call in WRITES and started:
        if path and state.ours(path) and wal is None:
            state.dirty.setdefault(path, at)
        return
    if call in SYNCS and finished:
        if path and state.ours(path):
            state.dirty.pop(path, None)
            for entry in [e for e in state.pending if os.path.dirname(e) == path]:
                del state.pending[entry]
            state.syncs_since_answer += 1
            verdict.syncs += 1
        return
    if not finished:
        return
    paths = _paths(args)
    if call in ("openat", "open", "creat") and ("O_CREAT" in args or call == "creat"):
        made = retpath[1:-1] if retpath else (paths[0] if paths else None)
        if made and state.ours(made) and ("O_EXCL" in args or made not in state.known):
            state.pending.setdefault(made, at)
            state.known.add(made)
    elif call in ("mkdir", "mkdirat") and paths and state.ours(paths[0]):
        state.pending.setdefault(paths[0], at)
        state.known.add(paths[0])
    elif call in ("rename", "renameat", "renameat2", "link", "linkat") and len(paths) == 2:
        old, new = paths
        if call.startswith("rename"):
            state.pending.pop(old, None)
            written = state.dirty.pop(old, None)
        else:
            written = state.dirty.get(old)
        if call.startswith("rename"):
            state.known.discard(old)
        if state.ours(new):
            state.pending[new] = at
            state.known.add(new)
            if written is not None:
                state.dirty[new] = written
    elif call in ("unlink", "unlinkat", "rmdir") and paths:
        state.pending.pop(paths[0], None)
        state.dirty.pop(paths[0], None)
        state.known.discard(paths[0])


# -- the run ------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        process = pending.pop()
        found.append(process)
        pending.extend(_service.children(process))
    return found


def _traced(pid: int) -> bool:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1]) != 0
    except OSError:
        return True  # gone: nothing left to wait for
    return False


async def _post(server: _service.Server, workspace: _service.Workspace, count: int,
                strace: list[str], trace: Path
                ) -> tuple[list[_driver.Result], list[str], float]:
    agents = [_driver.Agent(a.siren, a.certificate, a.key) for a in workspace.agents]
    items = _driver.envelopes([a.siren for a in workspace.agents], tag="W")
    async with _driver.Driver(server.api_url, workspace.roots, agents, connections=1) as driver:
        # The connection, its handshake and the workers' first work happen before tracing.
        warm = await _driver.closed_loop(driver, [next(items) for _ in range(2)], 1)
        pids = _tree(server.pid)
        tracer = subprocess.Popen([*strace, "-o", str(trace),
                                   *[a for p in pids for a in ("-p", str(p))]],
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not all(_traced(p) for p in pids):
                if time.monotonic() > deadline or tracer.poll() is not None:
                    raise RuntimeError("strace could not attach to the service")
                await asyncio.sleep(0.05)
            data_dir = workspace.data_dir.resolve()
            trace.with_name(EXISTING).write_text(
                "\n".join([str(data_dir), *map(str, data_dir.rglob("*"))]))
            measured = [next(items) for _ in range(count)]
            start = time.time()
            results = await _driver.closed_loop(driver, measured, 1)
            await _logged(trace, data_dir, server.api_url, start, sum(r.ok for r in results))
        finally:
            tracer.send_signal(signal.SIGINT)  # detaches and flushes its log
            tracer.wait(30)
    if not all(r.ok for r in warm):
        raise RuntimeError(f"warm-up answers: {warm}")
    return results, [m.numero_interne for m in measured], start


async def _logged(trace: Path, data_dir: Path, api_url: str, start: float, answers: int) -> None:
    """Wait until the log shows `answers` answers: a client may read an answer before strace
    has written the line of the send that carried it, and stopping strace then loses it."""
    port = urlsplit(api_url).port
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with trace.open() as log:
            if replay(log, data_dir, port or 0, [], after=start).answers >= answers:
                return
        await asyncio.sleep(0.02)


EXISTING = "existing.txt"
"""Beside the trace: the data folder's paths when tracing began."""


def run(*, count: int = 40, root: Path | None = None) -> tuple[list[_report.Row], Verdict]:
    strace = shutil.which("strace")
    if strace is None:
        raise RuntimeError("strace is not installed (apt-get install strace)")
    command = [strace, "-f", "-qq", "-yy", "-ttt", "-x", "-s", "65536", "-e",
               f"trace={SYSCALLS}"]
    with tempfile.TemporaryDirectory(prefix="bench-power-") as tmp:
        folder = root or Path(tmp)
        workspace = _service.prepare(folder / "service", agents=1)
        server = _service.Server(workspace)
        try:
            results, numeros, start = asyncio.run(_post(server, workspace, count, command,
                                               folder / "strace.log"))
        finally:
            server.stop()
        port = urlsplit(server.api_url).port
        assert port is not None
        with (folder / "strace.log").open() as log:
            verdict = replay(log, workspace.data_dir.resolve(), port, numeros, after=start,
                             existing=(folder / EXISTING).read_text().splitlines())
    acknowledged = sum(r.ok for r in results)
    problems = list(verdict.problems)
    if acknowledged != count:
        problems.append(f"{count - acknowledged} of {count} answers not a 201 with 1-2")
    if verdict.answers < acknowledged:
        problems.append(f"{verdict.answers} answers seen in the trace for {acknowledged} 201s")
    unsynced = sum(1 for n in verdict.syncs_between_answers if n == 0)
    if unsynced:
        problems.append(f"{unsynced} answers with no sync since the previous one")
    verdict.problems = problems
    per = verdict.syncs / max(1, verdict.answers)
    return [_report.Row(
        f"power-loss check: {acknowledged} acknowledged submissions, each answer's data and "
        "rows fsynced before it (strace accounting)", len(problems), "problems",
        target="0 unsynced", passed=not problems,
        detail={"answers_traced": verdict.answers, "syncs": verdict.syncs,
                "syncs_per_submission": round(per, 1), "problems": problems[:10],
                "trace_lines": verdict.lines}),
        _report.Row("fsync + fdatasync calls per submission (one in flight)", per, "calls")], \
        verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="submissions, one at a time")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    args = parser.parse_args()
    rows, verdict = run(count=args.count)
    for problem in verdict.problems[:20]:
        print(problem, file=sys.stderr)
    return _report.emit(rows, json_output=args.json, title="power-loss check (fsync accounting)")


if __name__ == "__main__":
    sys.exit(main())
