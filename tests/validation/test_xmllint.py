"""An outside tool confirms our schemas: xmllint agrees with our schema verdict on every XML part."""

import shutil
import subprocess

import pytest

from operator_sim.protocol.archive import UnsafeArchive, read_archive
from operator_sim.protocol.codes import NS_ACTES
from operator_sim.protocol.errors import UnsafeXML
from operator_sim.protocol.xmlsafe import parse_xml
from operator_sim.testing.corpus import NS_BUDGET
from operator_sim.validation.registry import SCHEMAS_DIR, default_registry

from .conftest import FIXTURES

pytestmark = pytest.mark.skipif(shutil.which("xmllint") is None, reason="xmllint not installed")


def _xml_parts(manifest):
    """Every well-formed, DTD-free XML member of the corpus with the schema that applies."""
    budget_xsd = SCHEMAS_DIR / "profiles" / "budget" / "DocumentBudgetaire.xsd"
    for entry in manifest:
        try:
            archive = read_archive(FIXTURES / "cases" / entry["archive"])
        except UnsafeArchive:
            continue
        with archive:
            for member in archive:
                if not member.name.endswith(".xml"):
                    continue
                data = member.read()
                try:
                    root = parse_xml(data)
                except UnsafeXML:
                    continue
                if root.tag.startswith(f"{{{NS_ACTES}}}"):
                    yield entry["slug"], member.name, data, SCHEMAS_DIR / "actes" / "actes.xsd"
                elif root.tag.startswith(f"{{{NS_BUDGET}}}"):
                    yield entry["slug"], member.name, data, budget_xsd


def test_xmllint_agrees_with_our_schema_verdict_on_every_xml_part(manifest, tmp_path):
    registry = default_registry()
    schemas = {SCHEMAS_DIR / "actes" / "actes.xsd": registry.actes}
    for profile in registry.profiles:
        if profile.xml_main:
            schemas[profile.xml_main.schema] = registry.schema_at(profile.xml_main.schema)
    parts = list(_xml_parts(manifest))
    assert len(parts) >= 70
    verdicts = {True: 0, False: 0}
    for slug, name, data, xsd in parts:
        ours = schemas[xsd].is_valid(parse_xml(data))
        path = tmp_path / name
        path.write_bytes(data)
        proc = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(xsd), str(path)],
                              capture_output=True, text=True, timeout=60)
        assert (proc.returncode == 0) == ours, f"{slug}/{name}: xmllint says {proc.stderr}"
        verdicts[ours] += 1
    assert verdicts[False] >= 3, "the corpus must hold schema-invalid parts too"
