"""Part headers split as PHP's rfc1867 parser splits them (`php_ap_getword`, `_conf`)."""

from __future__ import annotations

import pytest

from operator_sim.web.forms import content_disposition, php_name, posted_filename

CASES = [
    # Pastell's CurlWrapper: bare names, quoted file name
    ('form-data; name=acte_attachments[]; filename="annexe 1.pdf"',
     {"name": "acte_attachments[]", "filename": "annexe 1.pdf"}),
    # a quoted value keeps its `;` and escaped quotes
    ('form-data; name="a"; filename="x; y \\"z\\".pdf"', {"name": "a", "filename": 'x; y "z".pdf'}),
    ("form-data; name='a'; filename='b c.pdf'", {"name": "a", "filename": "b c.pdf"}),
    # a bare value stops at the first blank; keys are case-blind
    ("FORM-DATA; NAME=a b; FileName=c.pdf", {"name": "a", "filename": "c.pdf"}),
    ("form-data", {}),
    ("form-data; name=a; name=b", {"name": "a"}),
]


@pytest.mark.parametrize(("header", "expected"), CASES)
def test_content_disposition_is_split_as_php_splits_it(header, expected):
    assert content_disposition(header) == expected


@pytest.mark.parametrize(("params", "expected"), [
    ({"filename": "C:\\Users\\agent\\plan.pdf"}, "plan.pdf"),
    ({"filename": "../../etc/passwd"}, "passwd"),
    ({"filename": "x.pdf", "filename*": "UTF-8''plan%20%C3%A9t%C3%A9.pdf"}, "plan été.pdf"),
    ({"filename": "x.pdf", "filename*": "bogus-charset''a.pdf"}, "x.pdf"),
    ({"filename": "r\udcc3\udca9ponse.pdf"}, "réponse.pdf"),  # UTF-8 bytes as aiohttp keeps them
    ({"filename": "r\udce9ponse.pdf"}, "réponse.pdf"),  # ISO-8859-1 bytes
    ({"name": "a"}, None),
])
def test_posted_filename(params, expected):
    assert posted_filename(params) == expected


def test_php_array_names():
    assert php_name("acte_attachments[]") == ("acte_attachments", "")
    assert php_name("acte_attachments[2]") == ("acte_attachments", "2")
    assert php_name("subject") == ("subject", None)
