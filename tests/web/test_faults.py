"""The machine's faults under a served simulator: a database another process holds, a full
disk. Refused 503 (Retry-After) or 507, never a 500; nothing stored or half-written; the
service recovers as soon as the fault ends, without a restart."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from operator_sim.store.database import DATABASE_NAME
from tests.s2low.conftest import create_form, latin1, s2low_client

from .simkit import SIREN, act, serve, submit


@contextlib.contextmanager
def held_database(path: Path) -> Iterator[None]:
    """The real sqlite3 shell holding `path` in a BEGIN EXCLUSIVE transaction."""
    shell = subprocess.Popen(["sqlite3", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert shell.stdin is not None and shell.stdout is not None
        shell.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'held';\n")
        shell.stdin.flush()
        assert shell.stdout.readline().strip() == "held"
        yield
        shell.stdin.write("ROLLBACK;\n.quit\n")
        shell.stdin.flush()
        shell.wait(timeout=30)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="sqlite3 shell not installed")
async def test_a_database_held_by_another_process_gives_503_then_the_act_passes(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, db_busy_timeout_ms=300) as served:
        agent = served.enrol(SIREN)
        async with served.agent_session(agent) as http:
            with held_database(tmp_path / "data" / DATABASE_NAME):
                name, data = act("LOCK1")
                async with http.post("/api/v1/archives", params={"name": name}, data=data,
                                     headers={"Content-Type": "application/gzip"}) as response:
                    body = await response.json()
                    assert response.status == 503, body
                    assert body["code"] == "STORE_BUSY"
                    assert int(response.headers["Retry-After"]) > 0
            assert served.simulator.store.list().total == 0
            status, body = await submit(http, act("LOCK1"))  # not a duplicate: nothing was kept
            assert status == 201 and body["outcome"] == "1-2", body


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="sqlite3 shell not installed")
async def test_s2low_door_answers_ko_503_while_the_database_is_held(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, db_busy_timeout_ms=300) as served, \
            s2low_client(served) as s2low:
        with held_database(tmp_path / "data" / DATABASE_NAME):
            async with s2low.session().post("/modules/actes/actes_transac_create.php",
                                            data=create_form()) as response:
                body = latin1(await response.read())
                assert response.status == 503 and body.startswith("KO\n"), body
                assert "Retry-After" in response.headers
        assert await s2low.created() > 0


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (root only): writes past it fail with ENOSPC."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
async def test_a_full_disk_while_spooling_gives_507_leaves_nothing_and_recovers(
        tmp_path, shared_pki_dir):
    with small_disk(tmp_path / "disk", "4m") as disk:
        async with serve(disk / "data", shared_pki_dir) as served:
            agent = served.enrol(SIREN)
            async with served.agent_session(agent) as http:
                name, _ = act("FULL1")
                big = os.urandom(6 * 1024 * 1024)  # more than the disk has left
                async with http.post("/api/v1/archives", params={"name": name}, data=big,
                                     headers={"Content-Type": "application/gzip"}) as response:
                    body = await response.json()
                    assert response.status == 507, body
                    assert body["code"] == "INSUFFICIENT_STORAGE"
                leftovers = [p for p in (disk / "data").rglob("*")
                             if p.is_file() and p.parent.name in ("uploads", "tmp")]
                assert leftovers == []
                assert served.simulator.store.list().total == 0
                status, body = await submit(http, act("FULL1"))  # recovered, no restart
                assert status == 201 and body["outcome"] == "1-2", body

