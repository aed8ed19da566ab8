"""ICD-10-CM: every code of the CMS release known, in any written form, and the table's build (issue 13)."""

from __future__ import annotations

import gzip
import json
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.cli import cli
from screener.icd10cm import Icd10Cm, IcdCode, load_icd10cm, read_icd10cm_code
from screener.icd10cm.build import build, release_date
from screener.paths import bundled_data_dir


@pytest.fixture(scope="module")
def icd() -> Icd10Cm:
    table = load_icd10cm(str(bundled_data_dir()))
    assert table is not None
    return table


@cache
def all_codes() -> tuple[str, ...]:
    table = load_icd10cm(str(bundled_data_dir()))
    assert table is not None
    return tuple(code.code for code in table.codes())


@pytest.mark.parametrize("code, title", [
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("I10", "Essential (primary) hypertension"),
    ("J44.9", "Chronic obstructive pulmonary disease, unspecified"),
    ("G47.33", "Obstructive sleep apnea (adult) (pediatric)"),
    ("S72.001A", "Fracture of unspecified part of neck of right femur, initial encounter for closed fracture"),
    ("Z33.1", "Pregnant state, incidental"),
])
def test_codes_resolve_with_their_cms_titles(icd, code, title):
    found = icd.get(code)
    assert found is not None and (found.code, found.title, found.billable) == (code, title, True)


@pytest.mark.parametrize("code", ["E11.99", "Z99.999", "E11.9A", "S72.001Z", "A00.00", "QA0.9"])
def test_codes_cms_does_not_have_are_not_found(icd, code):
    assert read_icd10cm_code(code) == code  # shaped like a code…
    assert icd.get(code) is None  # …but not one


def test_ancestors_go_from_the_parent_up_to_the_block(icd):
    assert [(a.code, a.title) for a in icd.ancestors("E11.9")] == [
        ("E11", "Type 2 diabetes mellitus"), ("E08-E13", "Diabetes mellitus (E08-E13)")]
    assert [a.code for a in icd.ancestors("s72001a")] == ["S72.001", "S72.00", "S72.0", "S72", "S70-S79"]
    assert icd.ancestors("E11.99") == ()
    block = icd.get("E08-E13")
    assert block is not None and block.is_block and not block.billable and block.parent == ""
    assert icd.chapters[block.chapter] == "Endocrine, nutritional and metabolic diseases (E00-E89)"


def test_only_complete_codes_are_billable(icd):
    e11 = icd.get("E11")
    assert e11 is not None and not e11.billable and not e11.is_block
    s72 = icd.get("S72.001")  # needs its 7th character
    assert s72 is not None and not s72.billable
    assert [(c.code, c.parent) for c in map(icd.get, ("T36.0X1A", "O40.1XX0")) if c] == [
        ("T36.0X1A", "T36.0X1"), ("O40.1XX0", "O40.1")]  # placeholder X where the code is short


def test_the_table_holds_every_code_of_the_release(icd):
    manifest = icd.manifest
    assert (manifest["source_date"], icd.release, icd.label()) == (
        "2026-04-01", "ICD-10-CM April 2026 (CMS)", "icd20260401")
    assert manifest["codes"] + manifest["blocks"] == len(all_codes()) > 98_000
    assert sum(1 for code in icd.codes() if code.billable) == manifest["billable"] > 74_000


@given(st.data())
def test_any_code_found_reads_the_same_with_or_without_its_dot_and_in_any_case(icd, data):
    code = data.draw(st.sampled_from(all_codes()))
    found = icd.get(code)
    assert found is not None and found.code == code
    flips = data.draw(st.lists(st.booleans(), min_size=len(code), max_size=len(code)))
    written = "".join(c.lower() if flip else c for c, flip in zip(code, flips))
    if data.draw(st.booleans()):
        written = written.replace(".", "")
    written = data.draw(st.sampled_from(["", " "])) + written + data.draw(st.sampled_from(["", " \t"]))
    assert icd.get(written) == found
    if not found.is_block:
        assert read_icd10cm_code(written) == code


@pytest.mark.parametrize("text, code", [
    ("E119", "E11.9"), ("e11.9", "E11.9"), (" Z33.1 ", "Z33.1"), ("I10", "I10"), ("s72001a", "S72.001A"),
    ("U07.1", "U07.1"), ("C7A.010", "C7A.010"), ("qa00101", "QA0.0101"),
])
def test_a_code_reads_as_its_dotted_form(text, code):
    assert read_icd10cm_code(text) == code


@pytest.mark.parametrize("text", ["E1.19", "E11.", "I82.4Z-", "E11.99999", "11.9", "", "diabetes", "E08-E13",
                                  "EEE1", "E11 .9", "E１１.9", "DVT", "COPD", "HBA1C"])
def test_text_not_shaped_like_a_code_is_refused(icd, text):
    assert read_icd10cm_code(text) is None
    if text != "E08-E13":
        assert icd.get(text) is None


def test_a_directory_without_the_table_has_none(tmp_path):
    assert load_icd10cm(str(tmp_path)) is None


def test_a_table_that_does_not_match_its_manifest_is_not_used(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(tmp_path / "cache"))  # not expanded and checked before
    folder = tmp_path / "icd10cm"
    folder.mkdir()
    source = bundled_data_dir() / "icd10cm"
    (folder / "manifest.json").write_bytes((source / "manifest.json").read_bytes())
    with gzip.open(folder / "codes.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write("E119\tE11.9\tSomething else\tE11\t1\t4\n")
    assert load_icd10cm(str(tmp_path)) is None
    assert "the ICD-10-CM table is not used" in capsys.readouterr().err


def test_data_info_names_the_release(runner):
    result = runner.invoke(cli, ["data", "info"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("ICD-10-CM "))
    assert "ICD-10-CM April 2026 (CMS) of 2026-04-01" in line and "98,186 codes" in line
    assert result.output.splitlines()[0].endswith(".icd20260401")
    summary = json.loads(runner.invoke(cli, ["data", "info", "--format", "json"]).output)
    assert summary["icd10cm"]["source_date"] == "2026-04-01"


TABULAR = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular>
  <version>2099</version>
  <introduction><introSection type="title"><title>Tiny</title></introSection></introduction>
  <chapter>
    <name>1</name>
    <desc>Things (A00-B99)</desc>
    <section id="A00-A01">
      <desc>Some things (A00-A01)</desc>
      <diag>
        <name>A00</name>
        <desc>Thing</desc>
        <diag><name>A00.0</name><desc>Thing, plain</desc></diag>
        <diag><name>A00.1</name><desc>Thing,	odd  spacing</desc></diag>
      </diag>
      <diag>
        <name>A01</name>
        <desc>Injury</desc>
        <sevenChrDef>
          <extension char="A">initial encounter</extension>
          <extension char="D">subsequent encounter</extension>
          <extension char="S">sequela</extension>
        </sevenChrDef>
        <diag>
          <name>A01.1</name>
          <desc>Injury of one</desc>
          <diag><name>A01.111</name><desc>Injury of one, left</desc></diag>
        </diag>
        <diag><name>A01.2</name><desc>Injury of two</desc></diag>
      </diag>
    </section>
    <section id="B99">
      <desc>Other things (B99)</desc>
      <diag><name>B99</name><desc>Other thing</desc></diag>
    </section>
  </chapter>
</ICD10CM.tabular>
"""


def test_the_build_generates_seventh_characters_the_code_list_confirms(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "icd10cm-tabular-July-2099.xml").write_text(TABULAR, encoding="utf-8")
    # A01.2 has no sequela code in this release: the code list leaves it out.
    (source / "icd10cm-codes-July-2099.txt").write_text(
        "A000    Thing, plain\nA001 Thing, odd\nA01111A x\nA01111D x\nA01111S x\nA012XXA x\nA012XXD x\nB99 x\n",
        encoding="utf-8")
    out = tmp_path / "icd10cm"
    manifest = build([source], out)
    assert (manifest["source_date"], manifest["release"], manifest["fiscal_year"]) == (
        "2099-07-01", "ICD-10-CM July 2099 (CMS)", "2099")
    assert (manifest["codes"], manifest["blocks"], manifest["billable"]) == (13, 1, 8)
    assert manifest["chapters"] == {"1": "Things (A00-B99)"}
    table = Icd10Cm(out)
    assert table.get("A01.111A") == IcdCode("A01.111A", "Injury of one, left, initial encounter", "A01.111", True,
                                             "1")
    assert table.get("a012xxd") == IcdCode("A01.2XXD", "Injury of two, subsequent encounter", "A01.2", True, "1")
    assert table.get("A01.2XXS") is None  # not in the code list
    assert table.get("A01.2") == IcdCode("A01.2", "Injury of two", "A01", False, "1")
    assert table.get("A00.1") == IcdCode("A00.1", "Thing, odd spacing", "A00", True, "1")
    assert [a.code for a in table.ancestors("A01.111S")] == ["A01.111", "A01.1", "A01", "A00-A01"]
    # A block named after its single category is that category, at the top.
    assert table.get("B99") == IcdCode("B99", "Other thing", "", True, "1")
    lines = gzip.decompress((out / "codes.tsv.gz").read_bytes()).decode("utf-8").splitlines()
    keys = [line.split("\t", 1)[0] for line in lines]
    assert keys == sorted(keys) and "A00-A01" in keys and "1" not in keys  # chapters are not rows
    # Rebuilding gives the same bytes (reproducible), and the date can be given.
    again = build([source / "icd10cm-tabular-July-2099.xml"], tmp_path / "again", date="2099-07-15")
    assert again["sha256"] == manifest["sha256"] and again["source_date"] == "2099-07-15"
    assert (tmp_path / "again" / "codes.tsv.gz").read_bytes() == (out / "codes.tsv.gz").read_bytes()


@pytest.mark.parametrize("name, date", [
    ("icd10c-tabular-April-1-2026.xml", "2026-04-01"), ("icd10cm-tabular-April-2026.xml", "2026-04-01"),
    ("icd10cm_tabular_2026.xml", "2025-10-01"), ("tabular.xml", None),
])
def test_the_release_date_is_read_from_the_cms_file_name(name, date):
    assert release_date(name) == date


@pytest.mark.slow
def test_the_bundled_table_agrees_with_simple_icd_10_cm_on_every_item(icd):
    cm = pytest.importorskip("simple_icd_10_cm")
    if icd.manifest["source_copy"] != "simple-icd-10-cm " + cm_version():
        pytest.skip("the bundled table was built from another copy")
    items = [c for c in dict.fromkeys(cm.get_all_codes()) if not cm.is_chapter(c)]
    assert len(items) == len(all_codes())
    for item in items:
        found = icd.get(item)
        assert found is not None, item
        ancestors = cm.get_ancestors(item)
        single_block = cm.is_block(item) and cm.is_category(item)  # a block named after its only category
        parent = "" if single_block or cm.is_chapter(ancestors[0]) else ancestors[0]
        leaf = cm.is_leaf(item) and not (cm.is_block(item) and not cm.is_category(item))
        assert (found.code, found.title, found.parent, found.billable, found.chapter) == (
            item, " ".join(cm.get_description(item).split()), parent, leaf, ancestors[-1]), item


def cm_version() -> str:
    from importlib.metadata import version

    return version("simple-icd-10-cm")
