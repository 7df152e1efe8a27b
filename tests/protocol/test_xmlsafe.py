"""The safe XML parser: a declared encoding must agree with the bytes, and a document's shape
is bounded before any schema sees it."""

import codecs

import pytest

from operator_sim.protocol.errors import UnsafeXML
from operator_sim.protocol.xmlsafe import MAX_ATTRIBUTES, MAX_NODES, parse_xml

TEXT = '<?xml version="1.0" encoding="{}"?>\n<a t="d\u00e9lib\u00e9ration">\u00e9t\u00e9</a>'


def _doc(declared: str, encoding: str, bom: bytes = b"") -> bytes:
    return bom + TEXT.format(declared).encode(encoding)


@pytest.mark.parametrize("data", [
    _doc("ISO-8859-1", "utf-16-le", codecs.BOM_UTF16_LE),
    _doc("ISO-8859-1", "utf-16-be", codecs.BOM_UTF16_BE),
    _doc("ISO-8859-1", "utf-16-le"),
    _doc("UTF-8", "utf-16-le"),
    _doc("UTF-16BE", "utf-16-le", codecs.BOM_UTF16_LE),
    _doc("ISO-8859-1", "utf-8", codecs.BOM_UTF8),
    _doc("UTF-16", "utf-8", codecs.BOM_UTF8),
    _doc("ISO-8859-1", "utf-32-le", codecs.BOM_UTF32_LE),
    TEXT.split("\n", 1)[1].encode("utf-16-le"),  # UTF-16 without BOM nor declaration
], ids=["utf16le-bom-latin1", "utf16be-bom-latin1", "utf16le-latin1", "utf16le-utf8",
        "utf16le-bom-utf16be", "utf8-bom-latin1", "utf8-bom-utf16", "utf32le-bom-latin1",
        "utf16-bare"])
def test_an_encoding_the_bytes_contradict_is_refused(data):
    with pytest.raises(UnsafeXML) as refused:
        parse_xml(data, name="acte.xml")
    assert refused.value.code in ("XML_ENCODING_MISMATCH", "XML_MALFORMED")
    if data[:2] != b"<\0":  # a bare '<' then NUL is refused by libxml2 already
        assert refused.value.code == "XML_ENCODING_MISMATCH"
        assert refused.value.message_en.startswith("acte.xml: encoding contradicted")


@pytest.mark.parametrize("data", [
    _doc("ISO-8859-1", "iso-8859-1"),
    _doc("UTF-8", "utf-8"),
    _doc("UTF-8", "utf-8", codecs.BOM_UTF8),
    _doc("utf-16", "utf-16-le", codecs.BOM_UTF16_LE),
    _doc("UTF-16", "utf-16-be", codecs.BOM_UTF16_BE),
    _doc("UTF-16LE", "utf-16-le"),
    TEXT.split("\n", 1)[1].encode("utf-16-le").join([codecs.BOM_UTF16_LE, b""]),
], ids=["latin1", "utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le-declared",
        "utf16le-bom-undeclared"])
def test_an_encoding_the_bytes_agree_with_is_read(data):
    root = parse_xml(data)
    assert root.text == "\u00e9t\u00e9" and root.get("t") == "d\u00e9lib\u00e9ration"


def test_an_element_with_too_many_attributes_is_refused():
    crowded = b"<r><e " + b" ".join(b'a%d="1"' % i for i in range(MAX_ATTRIBUTES + 1)) + b"/></r>"
    with pytest.raises(UnsafeXML) as refused:
        parse_xml(crowded, name="acte.xml")
    assert refused.value.code == "XML_TOO_MANY_ATTRIBUTES"
    assert f"{MAX_ATTRIBUTES + 1} attributes" in refused.value.message_en
    bounded = b"<r><e " + b" ".join(b'a%d="1"' % i for i in range(MAX_ATTRIBUTES)) + b"/></r>"
    assert len(parse_xml(bounded)[0].attrib) == MAX_ATTRIBUTES


def test_a_document_with_too_many_nodes_is_refused():
    with pytest.raises(UnsafeXML) as refused:
        parse_xml(b"<r>" + b"<e/>" * MAX_NODES + b"</r>")
    assert refused.value.code == "XML_TOO_MANY_NODES"
    assert len(parse_xml(b"<r>" + b"<e/>" * (MAX_NODES - 1) + b"</r>")) == MAX_NODES - 1
