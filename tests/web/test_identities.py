"""The identity directory lives in the store: enrolment, import of the old JSON file, the cache.

Everything goes through a served simulator (real TLS, real SQLite) and, for enrolment beside a
running service, the real `operator-sim` command in another process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)

from operator_sim.config import ConfigError
from operator_sim.pki import AgentSubject, PkiStore, hash_password
from operator_sim.store.identities import IMPORTED_SUFFIX

from .simkit import OTHER, SIREN, serve

LIST = "/api/v1/transactions"


async def status_of(served, agent, *, login: str = "", password: str = "") -> tuple[int, str]:
    headers = {"Authorization": aiohttp.encode_basic_auth(login, password)} if login else {}
    async with served.agent_session(agent, headers=headers) as http, http.get(LIST) as response:
        body = await response.json()
        return response.status, body.get("code", "")


def legacy_file(pki: PkiStore, single, shared) -> dict:
    """`identities.json` exactly as versions before the store wrote it."""
    def account(name, siren, login=None, password=None):
        return {"name": name, "sirens": [siren], "roles": ["answer", "cancel", "read", "submit"],
                "login": login, "password_hash": hash_password(password) if password else None}

    return {"version": 1, "certificates": {
        single.fingerprint: {"siren": SIREN, "accounts": [account("Agent d'avant", SIREN)]},
        shared.fingerprint: {"siren": SIREN, "accounts": [
            account("Alice", SIREN, "alice", "alice-pw"), account("Bob", OTHER, "bob", "bob-pw")]},
    }}


def agent_rows(database, fingerprint: str) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("select count(*) from agents where certificate_fingerprint = ?",
                          [fingerprint]).fetchone()[0]


async def test_an_old_identities_file_is_imported_once_and_its_agents_keep_working(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "first", shared_pki_dir) as served:  # creates the PKI
        pki, now = served.simulator.pki, served.simulator.clock.now()
    single = pki.issue_agent(AgentSubject("Mairie", SIREN, "Agent d'avant"), now=now)
    shared = pki.issue_agent(AgentSubject("Mairie", SIREN, "Certificat partagé"), now=now)
    pki.identities_path.write_text(json.dumps(legacy_file(pki, single, shared)))
    data = tmp_path / "data"

    async with serve(data, shared_pki_dir) as served:
        assert not pki.identities_path.exists()
        imported = pki.identities_path.with_name("identities.json" + IMPORTED_SUFFIX)
        assert json.loads(imported.read_text())["certificates"].keys() == {
            single.fingerprint, shared.fingerprint}
        assert await status_of(served, single) == (200, "")
        assert await status_of(served, shared) == (401, "CREDENTIALS_REQUIRED")
        assert await status_of(served, shared, login="bob", password="bob-pw") == (200, "")
        assert await status_of(served, shared, login="bob", password="alice-pw") == (
            401, "BAD_CREDENTIALS")
        row = served.simulator.store.agent_certificate(single.fingerprint)
        assert (row.siren, row.serial, row.subject) == (SIREN, single.serial, single.subject)
        database = served.simulator.store.path

    imported.rename(pki.identities_path)  # renamed back: imported again, nothing doubled
    async with serve(data, shared_pki_dir) as served:
        assert await status_of(served, single) == (200, "")
    assert (agent_rows(database, single.fingerprint), agent_rows(database, shared.fingerprint)) == (1, 2)
    imported.unlink()


async def test_enrolment_by_the_cli_reaches_a_running_service_and_revocation_still_refuses(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir) as served:
        async def cli(*args: str) -> str:
            process = await asyncio.create_subprocess_exec(
                Path(sys.executable).with_name("operator-sim"), "pki", *args,
                "--dir", str(shared_pki_dir),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await process.communicate()
            assert process.returncode == 0, err.decode()
            return out.decode()

        output = await cli("issue-agent", "--siren", OTHER, "--name", "Agent du terminal",
                           "--data-dir", str(tmp_path / "data"))
        serial = dict(line.split(" ", 1) for line in output.splitlines())["serial"]
        agent = served.simulator.pki.find(serial)
        assert served.simulator.identities.cached(agent.fingerprint) is None
        assert await status_of(served, agent) == (200, "")
        assert served.simulator.identities.cached(agent.fingerprint) is not None

        await cli("revoke", serial)
        assert await status_of(served, agent) == (401, "CERT_REVOKED")


async def test_a_bound_certificate_is_answered_from_memory_and_a_miss_is_asked_again(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir) as served:
        pki, now = served.simulator.pki, served.simulator.clock.now()
        agent = served.enrol(SIREN)
        unbound = pki.issue_agent(AgentSubject("Mairie", SIREN, "Sans compte"), now=now)
        assert await status_of(served, agent) == (200, "")
        assert await status_of(served, unbound) == (401, "UNKNOWN_CERTIFICATE")
        with sqlite3.connect(served.simulator.store.path) as db:  # behind the service's back
            db.execute("update agent_certificates set fingerprint = ? where fingerprint = ?",
                       [unbound.fingerprint, agent.fingerprint])
            db.execute("update agents set certificate_fingerprint = ?"
                       " where certificate_fingerprint = ?", [unbound.fingerprint, agent.fingerprint])
        # The bound one is still answered from memory (no store read per request); the miss
        # was not remembered, so the certificate now bound in the database is found.
        assert await status_of(served, agent) == (200, "")
        assert await status_of(served, unbound) == (200, "")


async def test_an_agent_may_be_enrolled_for_a_collectivite_the_platform_does_not_know_yet(served):
    assert served.simulator.store.get_collectivite(OTHER) is None
    agent = served.enrol(OTHER)
    assert await status_of(served, agent) == (200, "")
    assert served.simulator.store.agent_certificate(agent.fingerprint).agents[0].sirens == {OTHER}


async def test_a_damaged_identities_file_stops_the_start_with_its_name_and_is_left_alone(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "first", shared_pki_dir):  # creates the PKI
        pass
    legacy = shared_pki_dir / "identities.json"
    legacy.write_text('{"version": 1, "certificates": {"ab": {"accounts": []}}}')
    try:
        with pytest.raises(ConfigError, match=r"identities\.json is not an identities file"):
            async with serve(tmp_path / "data", shared_pki_dir):
                pass
        assert legacy.exists()
    finally:
        legacy.unlink()


@pytest.mark.slow  # operator-sim serve in a subprocess
def test_serve_binds_its_demo_agent_again_when_the_data_folder_was_reset(tmp_path):
    exe = Path(sys.executable).with_name("operator-sim")
    p12 = tmp_path / "certs" / "demo-agent.p12"
    for _ in ("fresh", "data folder reset"):
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([str(exe), "serve", "--api-port", str(port), "--admin-port", "0"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            lines: list[str] = []
            while not any(line.startswith("agent") for line in lines):
                assert proc.poll() is None, "".join(lines)
                lines.append(proc.stdout.readline())
            key, certificate, _ = pkcs12.load_key_and_certificates(p12.read_bytes(), None)
            pem = tmp_path / "demo.pem"
            pem.write_bytes(certificate.public_bytes(Encoding.PEM) + key.private_bytes(
                Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
            context = ssl.create_default_context(cafile=tmp_path / "certs" / "roots.pem")
            context.load_cert_chain(pem)
            with urllib.request.urlopen(f"https://localhost:{port}{LIST}", context=context,
                                        timeout=60) as response:
                assert response.status == 200
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
