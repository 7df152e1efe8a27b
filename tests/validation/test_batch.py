"""Batches: archive discovery and findings. The forked workers are tested in
`forked_cases.py`, run by `test_batch_fork_safety.py` in a one-thread process."""

import io
from pathlib import Path

from operator_sim.protocol.envelope import Piece
from operator_sim.testing import corpus
from operator_sim.validation.batch import find_archives
from operator_sim.validation.validator import validate_archive


def test_find_archives_lists_what_rglob_lists_in_the_same_order(tmp_path: Path) -> None:
    def touch(relative: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return path

    for relative in ("a/2.tar.gz", "a/10.tar.gz", "B/x.tar.gz", ".hidden.tar.gz",
                     "deep/er/z.tar.gz", "dir.tar.gz/inner.tar.gz", "UPPER.TAR.GZ", "notes.txt",
                     "a/b/c.tar.gz", "a-b/d.tar.gz"):
        touch(relative)
    (tmp_path / "to-file.tar.gz").symlink_to(tmp_path / "a" / "2.tar.gz")
    (tmp_path / "broken.tar.gz").symlink_to(tmp_path / "nowhere")
    (tmp_path / "to-folder").symlink_to(tmp_path / "a", target_is_directory=True)
    given = tmp_path / "a" / "2.tar.gz"

    def rglob(path: Path) -> list[Path]:
        return sorted(p for p in path.rglob("*.tar.gz") if p.is_file())

    found = find_archives([tmp_path, str(given), f"{tmp_path}/", tmp_path / "to-folder"])
    assert found == [*rglob(tmp_path), given, *rglob(tmp_path), *rglob(tmp_path / "to-folder")]
    assert tmp_path / "to-folder" / "2.tar.gz" not in rglob(tmp_path)  # links not entered


def test_a_finding_on_the_second_annex_points_at_it(policy) -> None:
    built = corpus.build(corpus.base_request(annexes=(
        Piece(corpus.minimal_pdf("un"), "pdf", "99_DE"),
        Piece(corpus.minimal_png(), "pdf", "99_DE"))))  # a PNG named .pdf
    name, data = corpus._pack(built)
    report = validate_archive(io.BytesIO(data), policy, name=name)
    finding = report.errors[0]
    assert finding.code == "DOCUMENT_CONTENT_MISMATCH"
    assert finding.xpath == "/actes:Acte/actes:Annexes/actes:Annexe[2]/actes:NomFichier"
    assert finding.line and finding.line > 1
