"""The text readers' short cuts find exactly what the plain definitions find (hypothesis, against oracles)."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.errors import InputError
from screener.text import MAX_INPUT_LENGTH, clean_entry, find_name, name_starts, prepare

NAMES = {"soma": "carisoprodol", "soma compound": "soma-compound", "soma compound with codeine": "scc",
         "tylenol": "acetaminophen", "tylenol with codeine 3": "t3", "robaxin 750": "robaxin-750", "robaxin": "rx",
         "st johns wort": "sjw", "a b c d e f": "long"}
WORDS = ["soma", "compound", "with", "codeine", "tylenol", "3", "robaxin", "750", "mg", "st", "johns", "wort", "a",
         "b", "c", "d", "e", "f", "1", "tab", "qid", "x"]
_TOKEN = re.compile(r"[^\W_]+")
_UNIT_AFTER = re.compile(r"\s?(?:mg|mcg|g|gm|ml|milligrams?|micrograms?|grams?|%)\b")


def find_name_by_definition(prepared: str, names: dict[str, str], max_tokens: int, accept=None):
    """The longest name on whole words (leftmost of the longest), a number followed by a unit not ending one."""
    tokens = list(_TOKEN.finditer(prepared))
    best = None
    for i in range(len(tokens)):
        for j in range(min(len(tokens), i + max_tokens), i, -1):
            concept = names.get(" ".join(t.group() for t in tokens[i:j]))
            if concept is None or (accept is not None and not accept(concept)):
                continue
            if j - i > 1 and tokens[j - 1].group().isdigit() and _UNIT_AFTER.match(prepared, tokens[j - 1].end()):
                continue
            if best is None or j - i > best[0]:
                best = (j - i, concept, tokens[i].start(), tokens[j - 1].end())
            break
    return None if best is None else best[1:]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=12), st.sampled_from([" ", "  ", "-", ", "]),
       st.integers(1, 3), st.booleans())
def test_find_name_finds_what_the_definition_finds(words, glue, drop, only_some):
    names = dict(list(NAMES.items())[drop:])  # the starts are made for the very names looked up
    prepared = prepare(glue.join(words))
    accept = (lambda concept: concept != "soma-compound") if only_some else None
    longest = max(len(name.split()) for name in names)
    assert find_name(prepared, names, name_starts(names), accept) == find_name_by_definition(prepared, names, longest,
                                                                                              accept)


def clean_entry_by_definition(text: str, field: str) -> str:
    """`text.clean_entry` without its short cut for printable ASCII."""
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = re.sub(r"[\t\n\r\v\f]+", " ", text).strip()
    if not text:
        raise InputError("empty")
    if len(text) > MAX_INPUT_LENGTH:
        raise InputError("long")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in text):
        raise InputError("control")
    return text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(max_codepoint=0x7F), st.sampled_from("\u200b\ufeff\u00ad\u00e9")),
               max_size=40))
def test_clean_entry_gives_what_the_definition_gives(text):
    try:
        expected = clean_entry_by_definition(text, "medication")
    except InputError:
        with pytest.raises(InputError):
            clean_entry(text, "medication")
    else:
        assert clean_entry(text, "medication") == expected
