"""`operator-sim serve` on a fresh folder, driven by the real curl and openssl binaries."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from operator_sim.testing import corpus

pytestmark = [pytest.mark.slow,  # operator-sim serve in a subprocess, signals
              pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fresh_serve_creates_pki_and_acknowledges_a_curl_submission(tmp_path):
    api, tsa = free_port(), free_port()
    exe = Path(sys.executable).parent / "operator-sim"
    proc = subprocess.Popen([str(exe), "serve", "--api-port", str(api), "--admin-port", str(tsa)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("agent") for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        p12 = tmp_path / "certs" / "demo-agent.p12"
        subprocess.run(["openssl", "pkcs12", "-in", str(p12), "-nodes", "-passin", "pass:",
                        "-out", str(tmp_path / "agent.pem")], check=True, capture_output=True)
        built = corpus.build()
        archive = built.write(tmp_path)
        answer = subprocess.run(
            ["curl", "-sS", "--cacert", str(tmp_path / "certs" / "roots.pem"),
             "--cert", str(tmp_path / "agent.pem"), "-H", "Content-Type: application/gzip",
             "--data-binary", f"@{archive}",
             f"https://localhost:{api}/api/v1/archives?name={built.name}"],
            capture_output=True, text=True, timeout=60)
        body = json.loads(answer.stdout)
        assert body["outcome"] == "1-2", body
        assert body["id_acte"] == "034-491011698-20240312-DELIB2024_012-DE"
        assert (tmp_path / "data").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


# -- stopping: SIGTERM / SIGINT end the whole process tree cleanly --------------------------------

class Served:
    """`operator-sim serve` started by this test in `folder`, with its printed URLs."""

    def __init__(self, folder: Path, *, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.api, self.admin = free_port(), free_port()
        exe = Path(sys.executable).parent / "operator-sim"
        # A file, not a pipe: children left running would hold a pipe open for ever.
        self.log = folder / f"serve-{self.api}.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [str(exe), "serve", "--api-port", str(self.api), "--admin-port", str(self.admin)],
                cwd=folder, stdout=log, stderr=subprocess.STDOUT, text=True,
                start_new_session=True, env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 90
        while "\nagent (SIREN" not in self.output():
            assert time.monotonic() < deadline and self.proc.poll() is None, self.output()
            time.sleep(0.1)
        admin = next(line for line in self.output().splitlines() if line.startswith("admin"))
        self.token = admin.rsplit("token=", 1)[1].strip()
        if not (folder / "agent.pem").exists():
            subprocess.run(["openssl", "pkcs12", "-in", str(folder / "certs" / "demo-agent.p12"),
                            "-nodes", "-passin", "pass:", "-out", str(folder / "agent.pem")],
                           check=True, capture_output=True)

    def curl(self, *args: str, timeout: float = 60) -> tuple[int | None, str]:
        """(HTTP status or None when the connection failed, body) of a curl on the API."""
        answer = subprocess.run(
            ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert",
             str(self.folder / "certs" / "roots.pem"), "--cert", str(self.folder / "agent.pem"),
             *args], capture_output=True, text=True, timeout=timeout)
        body, _, code = answer.stdout.rpartition("\n")
        return (int(code) if code.strip() not in ("", "000") else None), body

    def api_url(self, path: str) -> str:
        return f"https://localhost:{self.api}{path}"

    def admin_get(self, path: str) -> dict:
        answer = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {self.token}",
                                 f"http://127.0.0.1:{self.admin}{path}"],
                                capture_output=True, text=True, timeout=60, check=True)
        return json.loads(answer.stdout)

    def output(self) -> str:
        return self.log.read_text()


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def in_session(sid: int) -> list[int]:
    """Live processes of session `sid` (what `start_new_session` gave the server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def end_session(sid: int) -> None:
    """SIGKILL whatever this test started and is still running (a failed stop leaves some)."""
    for pid in in_session(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if running(p)}


def test_sigterm_under_load_stops_the_whole_tree_and_keeps_every_acknowledged_act(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from tests.web.simkit import act

    served = Served(tmp_path, env={"OPERATOR_SIM_WORKERS": "2"})
    archives = []
    for index in range(48):
        name, data = act(f"STOP{index:03d}")
        (tmp_path / name).write_bytes(data)
        archives.append(name)

    def post(name: str) -> tuple[int | None, str]:
        return served.curl("-H", "Content-Type: application/gzip", "--data-binary",
                           f"@{tmp_path / name}", served.api_url(f"/api/v1/archives?name={name}"))

    try:
        with ThreadPoolExecutor(max_workers=6) as load:
            answers = [load.submit(post, name) for name in archives]
            while sum(a.done() and a.result()[0] == 201 for a in answers) < 6:
                assert served.proc.poll() is None
                time.sleep(0.05)
            tree = descendants(served.proc.pid)
            assert tree, "the validation workers, fork server and resource tracker"
            stopped_at = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            code = served.proc.wait(timeout=30)
            took = time.monotonic() - stopped_at
            results = [a.result() for a in answers]
    finally:
        end_session(served.proc.pid)
    output = served.output()
    assert code == 0, output
    assert took < 15, took
    assert wait_gone(tree, 10) == set(), output
    assert in_session(served.proc.pid) == []
    assert "Traceback" not in output, output
    assert {status for status, _ in results} <= {201, 503, None}, results
    acknowledged = {json.loads(body)["transaction"]["id"] for status, body in results
                    if status == 201}
    assert len(acknowledged) >= 6

    again = Served(tmp_path)
    try:
        status, body = again.curl(again.api_url("/api/v1/transactions?limit=500"))
        assert status == 200, body
        stored = {item["id"] for item in json.loads(body)["items"]}
        assert acknowledged <= stored
        journal = again.admin_get("/admin/journal?status=201&path=/api/v1/archives&limit=1000")
        assert {item["transaction_id"] for item in journal["items"]} >= acknowledged
        again.proc.send_signal(signal.SIGINT)  # Ctrl-C stops it the same way
        assert again.proc.wait(timeout=30) == 0
        assert in_session(again.proc.pid) == []
    finally:
        end_session(again.proc.pid)


def test_sigint_stops_a_server_started_in_the_background_by_a_shell(tmp_path):
    """A non-interactive shell starts background jobs with SIGINT ignored."""
    api, admin = free_port(), free_port()
    exe = Path(sys.executable).parent / "operator-sim"
    script = (f"{exe} serve --api-port {api} --admin-port {admin} > log 2>&1 & "
              "echo $! > pid; wait $!; echo $? > rc")
    shell = subprocess.Popen(["sh", "-c", f"({script}) &"], cwd=tmp_path, start_new_session=True)
    shell.wait(timeout=30)
    deadline = time.monotonic() + 90
    while "agent (SIREN" not in ((tmp_path / "log").read_text() if (tmp_path / "log").exists()
                                 else ""):
        assert time.monotonic() < deadline, (tmp_path / "log").read_text()
        time.sleep(0.2)
    pid = int((tmp_path / "pid").read_text())
    try:
        os.kill(pid, signal.SIGINT)
        assert wait_gone({pid}, 20) == set(), (tmp_path / "log").read_text()
        deadline = time.monotonic() + 10
        while not (tmp_path / "rc").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "rc").read_text().strip() == "0", (tmp_path / "log").read_text()
    finally:
        end_session(shell.pid)
