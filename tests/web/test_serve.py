"""`operator-sim serve` on a fresh folder, driven by the real curl and openssl binaries."""

from __future__ import annotations

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

from operator_sim.validation import corpus

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


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
