"""Validate many archives: discovery, parallel workers, progress, and report renderings.

Large batches are spread over processes (validation is CPU-bound and the GIL would serialise
threads); each worker compiles the schemas once and then streams through its share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from lxml import etree

from .registry import default_registry
from .report import ValidationReport
from .validator import ValidationPolicy, validate_file

ARCHIVE_SUFFIX = ".tar.gz"
PARALLEL_THRESHOLD = 32


def find_archives(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and every `*.tar.gz` below each folder, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob(f"*{ARCHIVE_SUFFIX}") if p.is_file()))
        else:
            found.append(path)
    return found


def validate_many(archives: Sequence[Path], policy: ValidationPolicy, *, jobs: int = 1,
                  on_done: Callable[[ValidationReport], None] | None = None
                  ) -> list[ValidationReport]:
    """Validate archives in order; with jobs > 1 and a large batch, across processes."""
    reports: list[ValidationReport] = []
    if jobs > 1 and len(archives) >= PARALLEL_THRESHOLD:
        from concurrent.futures import ProcessPoolExecutor  # 30 ms of imports: only when used

        default_registry()  # compiled once here, inherited by forked workers
        chunk = max(1, len(archives) // (jobs * 8))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for report in pool.map(validate_file, archives, [policy] * len(archives),
                                   chunksize=chunk):
                reports.append(report)
                if on_done:
                    on_done(report)
        return reports
    for path in archives:
        report = validate_file(path, policy)
        reports.append(report)
        if on_done:
            on_done(report)
    return reports


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
    return "\n".join(lines) + "\n"


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
                                name=report.source)
        if not report.valid:
            first = report.errors[0]
            failure = etree.SubElement(case, "failure", type=first.code,
                                       message=first.message_en)
            failure.text = _lines(report.errors)
        if report.warnings:
            etree.SubElement(case, "system-out").text = _lines(report.warnings)
    return etree.tostring(suite, xml_declaration=True, encoding="UTF-8",
                          pretty_print=True).decode("utf-8")


def _lines(findings: Sequence) -> str:
    return "\n".join(f"{f.code} ({f.location}): {f.message_en}" for f in findings)


RENDERERS: dict[str, Callable[[Sequence[ValidationReport]], str]] = {
    "text": render_text, "json": render_json, "junit": render_junit,
}
