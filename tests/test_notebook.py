"""Notebooks: a Report shows itself as cards (HTML-escaped), and `screen_frame` takes the natural pandas forms."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pandas as pd

import screener
from screener.batch import screen_frame

VOID = {"br", "hr", "img", "input", "meta", "link"}


class _Tags(HTMLParser):
    """Collects the element structure, to check the fragment is balanced and holds no active content."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        if any(name.startswith("on") for name, _ in attrs):
            self.problems.append(f"event handler on <{tag}>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")


def parse(fragment: str) -> _Tags:
    tags = _Tags()
    tags.feed(fragment)
    tags.close()
    assert tags.problems == [] and tags.stack == [], (tags.problems, tags.stack)
    return tags


def test_a_report_shows_as_cards_most_serious_first_incomplete_first_of_all(kb):
    report = kb.screen(["Soma 350 mg qid", "Xanax", "xyzzymab"], conditions=["pregnancy"])
    html = report._repr_html_()
    tags = parse(html)
    assert "script" not in tags.seen and "style" not in tags.seen and "link" not in tags.seen
    incomplete = html.index("Not recognised or not checked: this screen is incomplete")
    cards = [html.index(f"<strong>{f.title}</strong>") for f in report.findings]
    assert incomplete < cards[0] and cards == sorted(cards)
    assert html.count(">MAJOR</span>") == 1 and html.count(">MODERATE</span>") == 1
    assert "<q>xyzzymab</q> (medication)" in html
    assert report.knowledge_version in html


def test_every_text_in_the_cards_is_escaped(kb):
    report = kb.screen(["Soma", "Xanax", '<img src=x onerror="alert(1)">'])
    hostile = '<script>alert("x")</script> & \'q\''
    finding = replace(report.findings[0], title=hostile, summary=hostile, advice=hostile, plain=hostile,
                      mechanism=hostile, sources=(hostile,), path=(f'"{hostile}"', "carisoprodol"))
    report = replace(report, findings=(finding,))
    html = report._repr_html_()
    tags = parse(html)
    assert "script" not in tags.seen and "img" not in tags.seen
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_a_clean_screen_never_says_safe(kb):
    html = kb.screen(["meprobamate"])._repr_html_()
    parse(html)
    assert screener.NO_FINDINGS_TEXT in html and "safe" not in html.lower()


def test_screen_frame_takes_list_valued_cells_as_the_text_form(kb):
    as_text = pd.DataFrame({"patient_id": ["p1", "p2", "p3"],
                            "medications": ["Soma 350 mg qid; Xanax", "ibuprofen", ""],
                            "conditions": ["pregnancy", "", ""]})
    as_lists = pd.DataFrame({"patient_id": ["p1", "p2", "p3"],
                             "medications": [["Soma 350 mg qid", "Xanax"], ("ibuprofen",), []],
                             "conditions": [np.array(["pregnancy"], dtype=object), [None], []]})
    text_findings, text_patients = screen_frame(as_text, knowledge=kb)
    list_findings, list_patients = screen_frame(as_lists, knowledge=kb)
    pd.testing.assert_frame_equal(list_findings, text_findings)
    pd.testing.assert_frame_equal(list_patients, text_patients)
    assert list(list_patients["status"]) == ["findings", "incomplete", "invalid"]  # p3: no medication
    assert "holds more than one medication" not in " ".join(list_patients["unrecognized"].astype(str))


def test_screen_frame_keeps_the_callers_patient_id_dtype(kb):
    frame = pd.DataFrame({"patient_id": [101, 202], "medications": [["Soma", "Xanax"], ["Norco"]]})
    findings, patients = screen_frame(frame, knowledge=kb)
    assert patients["patient_id"].dtype == frame["patient_id"].dtype
    assert findings["patient_id"].dtype == frame["patient_id"].dtype
    merged = frame.merge(patients, on="patient_id")  # no cast needed
    assert list(merged["patient_id"]) == [101, 202] and list(merged["status"]) == ["findings", "no-findings"]
    assert set(findings["patient_id"]) == {101}
    # Under another name, through `columns`; and text ids stay text.
    renamed = frame.rename(columns={"patient_id": "member"})
    _, by_member = screen_frame(renamed, knowledge=kb, columns={"patient_id": "member"})
    assert by_member["patient_id"].dtype == frame["patient_id"].dtype
    _, texts = screen_frame(frame.astype({"patient_id": str}), knowledge=kb)
    assert list(texts["patient_id"]) == ["101", "202"]
