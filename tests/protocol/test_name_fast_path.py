"""Names parse through one whole-name regex first: it must answer exactly as the field-by-field
parse, for valid names and for every near miss."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from operator_sim.protocol.errors import InvalidName
from operator_sim.protocol.names import ArchiveName, EnveloppeName, MessageFileName

from .test_names import archive_names, enveloppe_names, message_file_names

PARSERS = (MessageFileName, EnveloppeName, ArchiveName)
# Characters that matter to the regexes: separators, digits, the letters of codes and services.
ALPHABET = string.digits + "-_.ABDEFGPRSTUCQxnpdfgjml2A0"


def verdict(parser: type, text: str) -> tuple:
    """What a parse gives: the name (fields, text, hash), or the refusal with its field."""
    try:
        name = parser.parse(text)  # type: ignore[attr-defined]
    except InvalidName as error:
        return ("refused", error.code, error.field, error.message_en, error.message_fr)
    return ("parsed", name, str(name), hash(name), repr(name))


def field_by_field(parser: type, text: str) -> tuple:
    try:
        name = parser._parse_fields(text)  # type: ignore[attr-defined]
    except InvalidName as error:
        return ("refused", error.code, error.field, error.message_en, error.message_fr)
    return ("parsed", name, str(name), hash(name), repr(name))


@st.composite
def near_names(draw: st.DrawFn) -> tuple[type, str]:
    """A valid name of each kind, then up to three edits with characters the regexes care about."""
    parser, text = draw(st.one_of(
        message_file_names().map(lambda n: (MessageFileName, str(n))),
        enveloppe_names().map(lambda n: (EnveloppeName, str(n))),
        archive_names.map(lambda n: (ArchiveName, str(n))),
    ))
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(ALPHABET))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        if action == "insert" or position == len(text):
            text = text[:position] + char + text[position:]
        elif action == "replace":
            text = text[:position] + char + text[position + 1:]
        else:
            text = text[:position] + text[position + 1:]
    return draw(st.sampled_from([parser, *PARSERS])), text


@pytest.mark.slow  # 1500 Hypothesis examples
@settings(max_examples=1500)
@given(near_names())
@example((MessageFileName, "034-491011698----7-1_0.xml"))
@example((MessageFileName, "034-491011698-20230229-A-DE-1-1_0.pdf"))  # no such day
@example((MessageFileName, "99_DE-034-491011698-20240312-B-DE-1-1_1.jpeg"))
@example((EnveloppeName, "ANO_EACT--SPREF0341-491011698-20240115-3.xml"))
@example((EnveloppeName, "EACT--491011698-491011698-20240115-3.xml"))
@example((ArchiveName, "SLO-ANO_EACT--491011698--20240314-1.tar.gz"))
@example((ArchiveName, "SLO-EACT--491011698--20241314-1.tar.gz"))
def test_whole_name_regex_answers_as_the_field_by_field_parse(case: tuple[type, str]) -> None:
    parser, text = case
    assert verdict(parser, text) == field_by_field(parser, text)


@given(st.sampled_from(PARSERS), st.text(st.sampled_from(ALPHABET), max_size=60))
def test_any_text_gets_the_same_answer_from_both_parses(parser: type, text: str) -> None:
    assert verdict(parser, text) == field_by_field(parser, text)


@given(message_file_names())
def test_a_parsed_name_equals_the_constructed_one(name: MessageFileName) -> None:
    parsed = MessageFileName.parse(str(name))
    assert parsed == name and hash(parsed) == hash(name) and repr(parsed) == repr(name)
