"""The one XML parser factory: every XML byte that enters the simulator goes through here.

No DTD, no entity expansion, no network, no XInclude, bounded tree size. A document that
declares a DTD is refused outright rather than parsed with the DTD ignored, so billion-laughs
and XXE variants all fail the same, explainable way.

More refusals keep what is read equal to what is meant, and its cost bounded: a declared
encoding the bytes contradict (libxml2 silently follows a byte-order mark or UTF-16 bytes and
ignores the declaration, where another reader would not), an element carrying more than
MAX_ATTRIBUTES attributes (schema validation of one element costs the square of its attribute
count in libxml2: 3,000 undeclared attributes held a worker for minutes), and a document of
more than MAX_NODES elements and attributes.
"""

from __future__ import annotations

import codecs
import re
import threading

from lxml import etree

from .errors import UnsafeXML

MAX_XML_BYTES = 20 * 1024 * 1024
MAX_ATTRIBUTES = 64
"""Most attributes one element may carry (an @ctes element carries at most a handful)."""
MAX_NODES = 100_000
"""Most elements and attributes one document may hold: bounds what validating it may cost
(libxml2 spends some 4 µs on each schema error, and an invalid document may have one per node;
the service then reads the act once more). Real documents spend about 100 bytes a node: a
budget document of 10 MB stays below."""

NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""A character XML 1.0 cannot carry: the complement of its `Char` production (#x9 | #xA | #xD |
[#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]), listed because the negated class takes
~30 ms to compile at every start of the command line, this one ~1 ms."""


def make_parser() -> etree.XMLParser:
    """A fresh lxml parser with the safe settings (parsers are not thread-safe; make one each)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


_local = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's safe parser, built once (an lxml parser may be reused, not shared by threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = make_parser()
    return parser


def parse_xml(data: bytes, *, name: str = "<xml>", max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted XML bytes into an element, or raise UnsafeXML with a precise reason."""
    if len(data) > max_bytes:
        raise UnsafeXML(
            f"{name}: XML document larger than {max_bytes} bytes",
            f"{name} : document XML de plus de {max_bytes} octets",
            code="XML_TOO_LARGE",
        )
    _check_encoding(data, name)
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser=_parser()))
    except etree.XMLSyntaxError as exc:
        if _declares_dtd(data):
            raise _dtd_forbidden(name) from None
        line = exc.lineno if exc.lineno else "?"
        raise UnsafeXML(
            f"{name}: not well-formed XML (line {line}): {exc.msg}",
            f"{name} : XML mal formé (ligne {line}) : {exc.msg}",
            code="XML_MALFORMED",
        ) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _dtd_forbidden(name)
    root = tree.getroot()
    _check_shape(root, name)
    return root


class _Counts(threading.local):
    """This thread's compiled XPath expressions (compiled once, not at every document; an lxml
    XPath evaluator is not shared by threads)."""

    def __init__(self) -> None:
        self.nodes = etree.XPath("count(//*) + count(//@*)")
        self.crowded = etree.XPath(f"(//*[count(@*) > {MAX_ATTRIBUTES}])[1]")


_counts = _Counts()


def node_count(element: etree._Element) -> int:
    """The elements and attributes of `element`'s document (libxml2's XPath: linear, no
    Python per node)."""
    return int(_counts.nodes(element))


def _check_shape(root: etree._Element, name: str) -> None:
    """Refuse more than MAX_NODES elements and attributes, or an element with more than
    MAX_ATTRIBUTES attributes (counted by libxml2's XPath, linear, before any schema)."""
    nodes = node_count(root)
    if nodes > MAX_NODES:
        raise UnsafeXML(
            f"{name}: {nodes} elements and attributes, more than {MAX_NODES}",
            f"{name} : {nodes} éléments et attributs, plus de {MAX_NODES}",
            code="XML_TOO_MANY_NODES")
    crowded = _counts.crowded(root)
    if crowded:
        element = crowded[0]
        tag = etree.QName(element).localname
        raise UnsafeXML(
            f"{name}: element {tag} (line {element.sourceline}) carries "
            f"{len(element.attrib)} attributes, more than {MAX_ATTRIBUTES}",
            f"{name} : l'élément {tag} (ligne {element.sourceline}) porte "
            f"{len(element.attrib)} attributs, plus de {MAX_ATTRIBUTES}",
            code="XML_TOO_MANY_ATTRIBUTES")


# XML 1.0 appendix F: what the first bytes say of the encoding, before any declaration is read.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32LE"), (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF8, "UTF-8"), (codecs.BOM_UTF16_LE, "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
)
_UNMARKED = (
    (b"<\0\0\0", "UTF-32LE"), (b"\0\0\0<", "UTF-32BE"),
    (b"<\0?\0", "UTF-16LE"), (b"\0<\0?", "UTF-16BE"),
)
# Declared names each byte family admits (lower case, without '-' and '_').
_ADMITTED = {
    "UTF-8": {"utf8"},
    "UTF-16LE": {"utf16", "utf16le", "ucs2", "unicode"},
    "UTF-16BE": {"utf16", "utf16be", "ucs2", "unicode"},
    "UTF-32LE": {"utf32", "utf32le", "ucs4"},
    "UTF-32BE": {"utf32", "utf32be", "ucs4"},
}
_DECLARED_ENCODING = re.compile(
    r"<\?xml\s[^>]*?\bencoding\s*=\s*([\"'])([A-Za-z][A-Za-z0-9._-]*)\1")


def _byte_family(data: bytes) -> tuple[str, bool] | None:
    """(encoding the first bytes impose, whether a byte-order mark says it); None for the
    8-bit families, whose declaration libxml2 already holds the bytes to."""
    for mark, family in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return family, True
    for head, family in _UNMARKED:
        if data.startswith(head):
            return family, False
    return None


def _check_encoding(data: bytes, name: str) -> None:
    """Refuse a document whose declared encoding contradicts its bytes (UTF-16 bytes declared
    ISO-8859-1, a UTF-8 byte-order mark on a document declared ISO-8859-1...), and UTF-16/32
    without a byte-order mark nor a declaration (XML 1.0 §4.3.3)."""
    found = _byte_family(data)
    if found is None:
        return
    family, marked = found
    head = data[:512].decode(family.lower(), errors="replace").lstrip("\ufeff")
    match = _DECLARED_ENCODING.match(head)
    declared = match.group(2) if match else None
    if declared is None:
        if marked or family == "UTF-8":
            return
        en = f"{family} bytes without a byte-order mark nor an encoding declaration"
        fr = f"octets {family} sans marque d'ordre des octets ni déclaration d'encodage"
    elif re.sub(r"[-_]", "", declared.lower()) in _ADMITTED[family]:
        return
    else:
        how_en = "its byte-order mark says" if marked else "its bytes are"
        how_fr = "sa marque d'ordre des octets indique" if marked else "ses octets sont en"
        en = f"declared {declared}, but {how_en} {family}"
        fr = f"déclaré {declared}, mais {how_fr} {family}"
    raise UnsafeXML(f"{name}: encoding contradicted by the bytes: {en}",
                    f"{name} : encodage contredit par les octets : {fr}",
                    code="XML_ENCODING_MISMATCH")


def _declares_dtd(data: bytes) -> bool:
    """A DOCTYPE in the prolog (8- or 16-bit encodings), for documents that fail to parse."""
    head = data[:4096]
    return b"<!DOCTYPE" in head or "<!DOCTYPE".encode("utf-16-le") in head \
        or "<!DOCTYPE".encode("utf-16-be") in head


def _dtd_forbidden(name: str) -> UnsafeXML:
    return UnsafeXML(
        f"{name}: DTDs and entity declarations are not allowed",
        f"{name} : les DTD et déclarations d'entités sont interdites",
        code="XML_DTD_FORBIDDEN",
    )
