"""The members the reader sees are the members GNU tar (which a préfecture may use) unpacks.

Extended headers chained before one member (two GNU long names, a long name then a PAX
`path`, two PAX headers) are read differently: tarfile keeps the first name, GNU tar the last;
so is a PAX header with both `path` and `GNU.sparse.name`. Such archives are refused; the
others list exactly GNU tar's names.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from operator_sim.protocol.archive import read_archive
from operator_sim.protocol.errors import UnsafeArchive

pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar not installed")

PDF = b"%PDF-1.4 contenu"
LONG = "a" * 120 + ".pdf"


def longname(name: str) -> bytes:
    return tarfile.TarInfo._create_gnu_long_header(name, tarfile.GNUTYPE_LONGNAME, "utf-8",
                                                   "strict")


def pax(**records: str) -> bytes:
    return tarfile.TarInfo._create_pax_generic_header(records, tarfile.XHDTYPE, "utf-8")


def member(name: str, data: bytes = PDF) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict") + data + bytes(-len(data) % 512)


CHAINED = {
    "two-longnames": longname("premier.pdf") + longname("../../evil.pdf") + member("court.pdf"),
    "longname-then-pax-path": longname("premier.pdf") + pax(path="../../evil.pdf")
    + member("court.pdf"),
    "two-pax-paths": pax(path="premier.pdf") + pax(path="../../evil.pdf") + member("court.pdf"),
    "pax-path-then-longname": pax(path="premier.pdf") + longname("second.pdf")
    + member("court.pdf"),
    "longname-then-pax-mtime": longname("premier.pdf") + pax(mtime="1") + member("court.pdf"),
    # One PAX header, two names: tarfile keeps the last record, GNU tar GNU.sparse.name.
    "pax-sparse-name-then-path": pax(**{"GNU.sparse.name": "premier.pdf", "path": "second.pdf"})
    + member("court.pdf"),
    "pax-path-then-sparse-name": pax(**{"path": "premier.pdf", "GNU.sparse.name": "second.pdf"})
    + member("court.pdf"),
}
SINGLE = {
    "one-longname": longname(LONG) + member("court.pdf"),
    "one-pax-path": pax(path=LONG) + member("court.pdf"),
    "pax-path-and-plain": pax(path="acte.pdf") + member("court.pdf") + member("autre.pdf"),
    "pax-sparse-name": pax(**{"GNU.sparse.name": "acte.pdf"}) + member("court.pdf"),
    "plain": member("acte.pdf") + member("annexe.pdf"),
}


def gnu_tar_names(path: Path) -> list[str]:
    listing = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, check=True,
                             timeout=60, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    return listing.stdout.decode("utf-8").splitlines()


def our_names(path: Path) -> list[str] | str:
    try:
        with read_archive(path) as archive:
            return list(archive.names)
    except UnsafeArchive as refused:
        return refused.code


@pytest.mark.parametrize("tar", [pytest.param(t, id=k) for k, t in {**CHAINED, **SINGLE}.items()])
def test_an_accepted_archive_lists_exactly_what_gnu_tar_lists(tmp_path: Path, tar: bytes) -> None:
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(gzip.compress(tar + bytes(1024), mtime=0))
    ours = our_names(path)
    if isinstance(ours, str):
        assert ours == "ARCHIVE_AMBIGUOUS_NAME"
        assert tar in CHAINED.values()
    else:
        assert ours == gnu_tar_names(path)


@pytest.mark.parametrize("tar", [pytest.param(t, id=k) for k, t in CHAINED.items()])
def test_chained_name_headers_are_refused(tmp_path: Path, tar: bytes) -> None:
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(gzip.compress(tar + bytes(1024), mtime=0))
    with pytest.raises(UnsafeArchive) as refused:
        read_archive(path)
    assert refused.value.code == "ARCHIVE_AMBIGUOUS_NAME"
    assert "byte 0" in refused.value.message_en
