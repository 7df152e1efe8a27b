"""An acknowledged write survives SIGKILL: a child process writes, we kill it, we check."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from operator_sim.store import SqliteStore
from operator_sim.store.database import DATABASE_NAME

WRITER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime, timedelta
    from operator_sim.protocol.codes import NatureActe, Sender, TransactionStatus, TransactionType
    from operator_sim.store import Collectivite, NewDocument, NewMessage, NewTransaction, SqliteStore

    store = SqliteStore.open(sys.argv[1])
    store.add_collectivite(Collectivite("491011698", "034", "1", "31", "Commune"))
    t0 = datetime(2025, 3, 10, tzinfo=UTC)
    i = 0
    while True:
        i += 1
        body = (f"<Acte n='{i}'>" + "x" * 4000 + "</Acte>").encode()
        sha = store.blobs.put(body)
        row = store.create_transaction(NewTransaction(
            type=TransactionType.ACTE, status=TransactionStatus.POSTE, siren="491011698",
            numero_interne=f"K{i}", nature=NatureActe.DE, archive_sha256=sha,
            messages=(NewMessage("1-1", Sender.CL, f"{i}.xml", sha),),
            documents=(NewDocument("main", 0, f"{i}.pdf", sha, "application/pdf", len(body)),),
        ), at=t0 + timedelta(seconds=i), actor="crash-writer")
        print(row.id, row.numero_interne, sha, flush=True)
""")


def test_every_acknowledged_transaction_survives_sigkill(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    data = tmp_path / "data"
    child = subprocess.Popen([sys.executable, str(script), str(data)], stdout=subprocess.PIPE,
                             text=True, cwd=os.getcwd())
    acknowledged = []
    deadline = time.monotonic() + 15
    try:
        while len(acknowledged) < 150 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.append(line.split())
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
    # Lines already in the pipe were printed after their commit: they count too.
    acknowledged += [line.split() for line in rest.splitlines() if line.strip()]
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 20, "the writer did not get going"

    with sqlite3.connect(data / DATABASE_NAME) as conn:
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
        assert conn.execute("pragma foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "select count(*) from transactions t where not exists"
            " (select 1 from journal j where j.transaction_id = t.id)"
            " or not exists (select 1 from messages m where m.transaction_id = t.id)"
            " or not exists (select 1 from documents d where d.transaction_id = t.id)").fetchone()[0]
        assert orphans == 0
    with SqliteStore.open(data) as store:
        for tid, numero, sha in acknowledged:
            row = store.get(int(tid))
            assert (row.numero_interne, row.archive_sha256) == (numero, sha)
            assert [e.to_status for e in store.journal(row.id)] == [1]
            assert store.blobs.verify(store.messages(row.id)[0].xml_sha256)
        assert store.list(limit=1).total in (len(acknowledged), len(acknowledged) + 1)
