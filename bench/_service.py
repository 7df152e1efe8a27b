"""Driving a real `operator-sim serve` process: folders, agents, envelopes, mTLS clients, RSS.

What the crash harness, the soak, the end-to-end and the big-archive benches share: a fresh
PKI with several enrolled agents, the server as a subprocess on ephemeral ports (the URLs are
read from what the CLI prints), keep-alive mutual-TLS sessions, and /proc memory readings.
Talks to the service only as a client does; never imports the web layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from operator_sim.pki import PkiStore
from operator_sim.pki.enrol import enrol_agent
from operator_sim.pki.profiles import RSA_2048
from operator_sim.pki.tls import client_ssl_context
from operator_sim.protocol.envelope import Collectivite
from operator_sim.store import SqliteStore
from operator_sim.store.identities import StoreDirectory
from operator_sim.testing import corpus

API_LINE = re.compile(r"API \(mutual TLS\)\s+(https://\S+?)/api/v1/")
ADMIN_LINE = re.compile(r"TSA \(RFC 3161\)\s+(http://\S+?)/tsa")


def siren(n: int) -> str:
    """The n-th SIREN with a valid Luhn check digit (8 digits from n, then the key)."""
    body = f"{21340000 + n:08d}"
    for key in range(10):
        digits = [int(c) for c in body + str(key)]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
                    for i, d in enumerate(digits))
        if total % 10 == 0:
            return body + str(key)
    raise AssertionError("unreachable: one key digit always fits")


@dataclass(frozen=True)
class Agent:
    siren: str
    certificate: Path
    key: Path


@dataclass(frozen=True)
class Workspace:
    """The folders a server runs on (kept across restarts) and the agents enrolled in them."""

    root: Path
    pki_dir: Path
    data_dir: Path
    agents: tuple[Agent, ...]

    @property
    def roots(self) -> Path:
        return self.pki_dir / "roots.pem"


def prepare(root: Path, *, agents: int = 4) -> Workspace:
    """A fresh PKI (RSA-2048 CAs, no catalogue: quick) and `agents` agents, one SIREN each."""
    root.mkdir(parents=True, exist_ok=True)
    pki_dir, now = root / "certs", datetime.now(UTC).replace(microsecond=0)
    pki = PkiStore(pki_dir)
    pki.initialise(now=now, ca_key=RSA_2048)
    enrolled = []
    with SqliteStore.open(root / "data") as store:  # the accounts live in the service's database
        for i in range(agents):
            store.ensure_convention(siren(i), "SLO")  # the strict profile needs one
            record = enrol_agent(pki, StoreDirectory(store), siren=siren(i),
                                 name=f"Agent de charge {i}", now=now)
            enrolled.append(Agent(siren(i), pki_dir / record.certificate, pki_dir / record.key))
    return Workspace(root, pki_dir, root / "data", tuple(enrolled))


def checkout_env(checkout: Path) -> dict[str, str]:
    """This interpreter's environment with `checkout`'s packages first on the path."""
    return {**os.environ, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1"}


def prepare_in(checkout: Path, root: Path, *, agents: int = 4) -> Workspace:
    """`prepare` as `checkout`'s own bench/_service.py does it (its schema, its accounts), in a
    subprocess importing that checkout's code: an older commit gets the folders it expects."""
    root.mkdir(parents=True, exist_ok=True)
    code = ("import json, sys; from pathlib import Path; from bench import _service; "
            "w = _service.prepare(Path(sys.argv[1]), agents=int(sys.argv[2])); "
            "print(json.dumps([[a.siren, str(a.certificate), str(a.key)] for a in w.agents]))")
    done = subprocess.run([sys.executable, "-c", code, str(root), str(agents)],
                          capture_output=True, text=True, cwd=root, env=checkout_env(checkout),
                          check=False)
    if done.returncode:
        raise RuntimeError(f"prepare in {checkout} failed:\n{done.stderr[-3000:]}")
    listed = json.loads(done.stdout.strip().splitlines()[-1])
    return Workspace(root, root / "certs", root / "data",
                     tuple(Agent(s, Path(c), Path(k)) for s, c, k in listed))


def module_file(checkout: Path, cwd: Path) -> str:
    """Where `operator_sim` is imported from by a process started as `Server(checkout=…)` is."""
    done = subprocess.run([sys.executable, "-c", "import operator_sim; print(operator_sim.__file__)"],
                          capture_output=True, text=True, cwd=cwd, env=checkout_env(checkout),
                          check=True)
    return done.stdout.strip()


# -- envelopes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One envelope to post: its bytes, and what identifies it once stored."""

    name: str
    data: bytes
    sha256: str
    siren: str
    numero_interne: str


def stream(sirens: Iterable[str], *, tag: str = "K", start: int = 0) -> Iterator[Submission]:
    """Valid délibérations spread over `sirens`, each with its own NumeroInterne, made on demand."""
    sirens = list(sirens)
    for i in itertools.count(start):
        owner = sirens[i % len(sirens)]
        numero = f"{tag}{i:07d}"
        built = corpus.build(corpus.base_request(numero_interne=numero),
                             collectivite=Collectivite(siren=owner, departement="034",
                                                       arrondissement=3),
                             numero=1 + i % 9999)
        name, data = corpus._pack(built)
        yield Submission(name, data, hashlib.sha256(data).hexdigest(), owner, numero)


def submissions(sirens: Iterable[str], count: int, *, tag: str = "K") -> list[Submission]:
    """The first `count` envelopes of `stream`."""
    return list(itertools.islice(stream(sirens, tag=tag), count))


def big_pdf(size: int) -> bytes:
    """A structurally complete PDF whose page content carries `size` incompressible bytes."""
    filler = os.urandom(size)
    text = b"BT /F1 14 Tf 72 720 Td (Annexe volumineuse) Tj ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents [4 0 R 6 0 R] "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        # Random bytes as a comment-only content stream: a viewer skips them.
        b"<< /Length %d >>\nstream\n%%" % (size + 2) + filler.replace(b"\n", b" ").replace(b"\r", b" ")
        + b"\n\nendstream",
    ]
    parts, offsets, position = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"], [], 0
    position = len(parts[0])
    for number, body in enumerate(objects, start=1):
        offsets.append(position)
        chunk = b"%d 0 obj\n" % number + body + b"\nendobj\n"
        parts.append(chunk)
        position += len(chunk)
    xref = [b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)]
    xref += [b"%010d 00000 n \n" % offset for offset in offsets]
    xref.append(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                % (len(objects) + 1, position))
    return b"".join(parts + xref)


def big_envelope(folder: Path, size: int, owner: str) -> tuple[str, Path]:
    """A valid act whose PDF carries `size` incompressible bytes, written to `folder`."""
    request = corpus.base_request(numero_interne="GROS0001",
                                  document=corpus.Piece(big_pdf(size), "pdf", "99_DE"))
    built = corpus.build(request, collectivite=Collectivite(siren=owner, departement="034",
                                                            arrondissement=3))
    return built.name, built.write(folder)


# -- the server process -------------------------------------------------------------------------


class ServerDied(RuntimeError):
    pass


class Server:
    """`operator-sim serve` in its own process group, on ephemeral ports, logging to a file.

    With `checkout`, the CLI of that source tree runs instead of the installed one (this
    interpreter, `checkout` first on PYTHONPATH, from the workspace folder so that neither the
    server nor its workers' fork server finds another `operator_sim` in the current folder).
    """

    def __init__(self, workspace: Workspace, *, env: dict[str, str] | None = None,
                 startup_timeout: float = 90, checkout: Path | None = None) -> None:
        self.workspace = workspace
        self.log = workspace.root / "server.log"
        arguments = ["serve", "--data-dir", str(workspace.data_dir), "--pki-dir",
                     str(workspace.pki_dir), "--api-port", "0", "--admin-port", "0"]
        if checkout is None:
            command, base, cwd = ([str(Path(sys.executable).parent / "operator-sim"), *arguments],
                                  dict(os.environ), None)
        else:
            command = [sys.executable, "-c", "import sys; from operator_sim.cli import main; "
                       "sys.argv[0] = 'operator-sim'; sys.exit(main())", *arguments]
            base, cwd = checkout_env(checkout), workspace.root
        self.started = time.monotonic()
        with self.log.open("a") as log:
            log.write(f"\n=== start {time.strftime('%H:%M:%S')} ===\n")
            log.flush()
            self._offset = log.tell()
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=cwd, env={**base, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.api_url, self.admin_url = self._wait_for_urls(startup_timeout)
        self.startup_seconds = time.monotonic() - self.started

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_for_urls(self, timeout: float) -> tuple[str, str]:
        text = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log.open() as log:
                log.seek(self._offset)
                text = log.read()
            api, admin = API_LINE.search(text), ADMIN_LINE.search(text)
            if api and admin:
                return api.group(1), admin.group(1)
            if self.process.poll() is not None:
                raise ServerDied(f"server exited with {self.process.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        self.kill()
        raise ServerDied(f"server printed no URLs in {timeout:.0f} s:\n{text[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole group (server and its validation workers): a crash, not a stop."""
        with contextlib.suppress(ProcessLookupError):  # the group outlives a dead leader
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        # The workers die with the group; wait until the kernel has them all gone.
        for _ in range(250):
            if next(_procs(lambda fields: int(fields[2]) == self.pid), None) is None:
                break
            time.sleep(0.02)

    def stop(self, timeout: float = 30) -> None:
        """Ctrl-C, as an operator would; SIGKILL if it does not go in time."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss(self) -> tuple[int, int]:
        """(server RSS, RSS of its worker processes) in bytes, from /proc."""
        return rss(self.pid), sum(rss(child) for child in children(self.pid))

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of (the whole service, its main process alone)."""
        return tree_cpu(self.pid), process_cpu(self.pid)


def rss(pid: int) -> int:
    """VmRSS of a live process in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_cpu(pid: int, *, reaped: bool = True) -> float:
    """User + system CPU seconds of `pid` (and, with `reaped`, of the children it waited for)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(value) for value in fields[11:15 if reaped else 13]) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of the whole service: `pid` and every live descendant (the validation workers
    are forked by a fork server, grandchildren of the server), with what each reaped."""
    total, pending, seen = 0.0, [pid], set()
    while pending:
        process = pending.pop()
        if process in seen:
            continue
        seen.add(process)
        total += process_cpu(process)
        pending.extend(children(process))
    return total


def _procs(match: Callable[[list[str]], bool]) -> Iterator[int]:
    """Live processes whose /proc/<pid>/stat fields after the name (state, ppid, pgrp, …)
    satisfy `match` (no psutil needed)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and match(fields):
            yield int(entry.name)


def children(pid: int) -> Iterator[int]:
    """Direct children of `pid`."""
    return _procs(lambda fields: int(fields[1]) == pid)


# -- clients ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a submission got: an HTTP status and JSON body, or a transport error."""

    submission: Submission
    status: int | None
    body: dict | None
    seconds: float
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status == 201 and self.body is not None


class Clients:
    """One keep-alive mutual-TLS session per agent, each submission sent by its SIREN's agent."""

    def __init__(self, workspace: Workspace, api_url: str, *, connections: int = 8,
                 timeout: float = 120) -> None:
        self.api_url = api_url
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        per_agent = max(1, connections // max(1, len(workspace.agents)))
        for agent in workspace.agents:
            context = client_ssl_context(cafile=workspace.roots, certificate=agent.certificate,
                                         key=agent.key)
            self._sessions[agent.siren] = aiohttp.ClientSession(
                api_url, connector=aiohttp.TCPConnector(ssl=context, limit=per_agent),
                timeout=aiohttp.ClientTimeout(total=timeout))

    def session(self, siren: str) -> aiohttp.ClientSession:
        return self._sessions[siren]

    async def submit(self, sub: Submission, *, give_up: float | None = None) -> Answer:
        """Post one envelope; `give_up` stops waiting for the answer that long after the
        request was sent (the server goes on)."""
        start = time.perf_counter()
        options = {} if give_up is None else {"timeout": aiohttp.ClientTimeout(
            total=None, sock_connect=30, sock_read=give_up)}
        try:
            async with self._sessions[sub.siren].post(
                    "/api/v1/archives", params={"name": sub.name}, data=sub.data,
                    headers={"Content-Type": "application/gzip"}, **options) as response:
                body = await response.json(content_type=None)
                return Answer(sub, response.status, body, time.perf_counter() - start)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return Answer(sub, None, None, time.perf_counter() - start,
                          f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()


@asynccontextmanager
async def clients(workspace: Workspace, api_url: str, **options: object) -> AsyncIterator[Clients]:
    pool = Clients(workspace, api_url, **options)  # type: ignore[arg-type]
    try:
        yield pool
    finally:
        await pool.close()


async def closed_loop(pool: Clients, subs: list[Submission], concurrency: int) -> list[Answer]:
    """Send every submission with `concurrency` in flight at all times; answers in send order."""
    answers: list[Answer | None] = [None] * len(subs)
    cursor = iter(range(len(subs)))

    async def worker() -> None:
        for i in cursor:
            answers[i] = await pool.submit(subs[i])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [a for a in answers if a is not None]


__all__ = ["Agent", "Answer", "Clients", "Server", "ServerDied", "Submission", "Workspace",
           "big_envelope", "checkout_env", "children", "clients", "closed_loop", "module_file",
           "prepare", "prepare_in", "process_cpu", "rss", "siren", "stream", "submissions",
           "tree_cpu"]
