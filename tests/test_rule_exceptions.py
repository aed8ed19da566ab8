"""Rule exceptions: a condition rule set aside for some entries of a drug (data/rule_exceptions.csv).

The opioid class contraindications in acute or severe asthma and in GI obstruction come from the opioid
analgesic labels (BUTRANS among them). Buprenorphine for opioid use disorder, taken sublingually or with
naloxone, lists only hypersensitivity in its §4 (SUBOXONE, buprenorphine sublingual tablets, ZUBSOLV), so
for those entries the next most specific rule applies: the moderate respiratory-compromise rule its own
respiratory depression warning matches, or none. docs/knowledge-decisions.md records the decision.
"""

from __future__ import annotations

import csv
import json

import pytest

from screener import load_knowledge
from screener.cli import cli
from screener.errors import KnowledgeError
from screener.validate import validate

EXCEPTIONS_HEADER = ["rule", "drug", "entries", "reason", "source", "checked", "checked_against"]


def screen(runner, *args):
    """(exit code, [(kind, severity, rule, title, path)]) of `screener check ARGS --format json`."""
    result = runner.invoke(cli, ["check", *args, "--format", "json"])
    report = json.loads(result.stdout)
    return result.exit_code, [(f["kind"], f["severity"], f["rule"], f["title"], f["path"]) for f in report["findings"]]


def test_suboxone_in_status_asthmaticus_gets_its_labels_caution_not_the_analgesic_contraindication(runner):
    assert screen(runner, "Suboxone", "-c", "status asthmaticus") == (1, [(
        "drug-condition", "moderate", "opioids-respiratory-compromise",
        "buprenorphine + Acute or severe bronchial asthma",
        ['"Suboxone"', "suboxone", "buprenorphine", "opioid-partial-agonists", "opioids",
         "⟷ rule:opioids-respiratory-compromise", "respiratory-compromise", "acute-severe-asthma",
         '"status asthmaticus"'])])


def test_butrans_in_status_asthmaticus_keeps_the_contraindication_of_its_own_label(runner):
    assert screen(runner, "Butrans", "-c", "status asthmaticus") == (1, [(
        "drug-condition", "contraindicated", "opioids-acute-severe-asthma",
        "buprenorphine + Acute or severe bronchial asthma",
        ['"Butrans"', "butrans", "buprenorphine", "opioid-partial-agonists", "opioids",
         "⟷ rule:opioids-acute-severe-asthma", "acute-severe-asthma", '"status asthmaticus"'])])


def test_sublingual_buprenorphine_in_copd_keeps_the_respiratory_compromise_caution(runner):
    assert screen(runner, "buprenorphine SL", "-c", "COPD") == (1, [(
        "drug-condition", "moderate", "opioids-respiratory-compromise",
        "buprenorphine + Chronic obstructive pulmonary disease",
        ['"buprenorphine SL"', "buprenorphine", "opioid-partial-agonists", "opioids",
         "⟷ rule:opioids-respiratory-compromise", "respiratory-compromise", "copd", '"COPD"'])])


@pytest.mark.parametrize("entry", ["buprenorphine 8 mg SL daily", "buprenorphine 8 mg under the tongue daily",
                                   "Zubsolv 5.7/1.4 daily", "buprenorphine/naloxone 8/2 mg film buccally daily",
                                   "Subutex 8 mg daily", "12496-1202-1"])
def test_the_exception_covers_sublingual_buprenorphine_and_every_buprenorphine_naloxone_entry(runner, entry):
    # (Exit codes left aside: an entry with naloxone is incomplete while naloxone is not classified.)
    _, found = screen(runner, entry, "-c", "J45.902")
    assert [(kind, severity, rule) for kind, severity, rule, _, _ in found] == [
        ("drug-condition", "moderate", "opioids-respiratory-compromise")]
    _, found = screen(runner, entry, "-c", "paralytic ileus")
    assert found == []


@pytest.mark.parametrize("entry", ["buprenorphine", "buprenorphine 300 mcg IM", "Belbuca 150 mcg buccal bid",
                                   "Butrans 10 mcg/hr patch"])
def test_buprenorphine_by_any_other_route_or_with_no_route_keeps_both_contraindications(runner, entry):
    for condition, rule in (("J45.902", "opioids-acute-severe-asthma"), ("K56.0", "opioids-gi-obstruction")):
        code, found = screen(runner, entry, "-c", condition)
        assert (code, [(severity, r) for _, severity, r, _, _ in found]) == (1, [("contraindicated", rule)])


KEPT = "Kept for this entry, though the rule is set aside for some buprenorphine entries: {}."
UNSETTLED = "its route is not settled ({})"
OUTSIDE = "its route is not one the exception is for ({})"


@pytest.mark.parametrize(("entry", "code", "why"), [
    # A product's own route is not overridden by a written "SL": a transdermal patch NDC, a Buprenex injection
    # NDC, a patch by its rate (the NDC entries are also incomplete: text and NDC disagree on the route).
    ("42858-0493 1 patch SL", 1, UNSETTLED.format("the text says sublingual; a patch is transdermal; the NDC's product is "
                                                    "transdermal")),
    ("12496-0757 SL", 1, UNSETTLED.format("the text says sublingual; the NDC's product is intramuscular or intravenous")),
    ("buprenorphine 5 mcg/hr patch SL", 1, UNSETTLED.format("the text says sublingual; its form is transdermal")),
    ("buprenorphine 1 film 10 mcg/hr patch SL", 1,  # each source said as what it is: a film, a transdermal form
     UNSETTLED.format("the text says sublingual; a film is buccal or sublingual; its form is transdermal")),
    # Two routes written: never excepted.
    ("buprenorphine transdermal SL", 1, UNSETTLED.format("the text names transdermal and sublingual")),
    # Subutex and the naloxone products by a route their labels do not have.
    ("Subutex 8 mg IV", 1, OUTSIDE.format("the text says intravenous")),
    ("Subutex 8 mg transdermal", 1, OUTSIDE.format("the text says transdermal")),
    ("Suboxone 8 mg IM", 1, UNSETTLED.format("the text says intramuscular; Suboxone is sublingual in the NDC Directory")),
    ("buprenorphine/naloxone 8/2 IV", 1, OUTSIDE.format("the text says intravenous")),
    # BUTRANS and BELBUCA are not sublingual products, whatever the text says.
    ("Butrans SL", 1, UNSETTLED.format("the text says sublingual; Butrans is transdermal in the NDC Directory")),
    ("Belbuca SL", 1, UNSETTLED.format("the text says sublingual; Belbuca is buccal in the NDC Directory")),
])
@pytest.mark.parametrize(("condition", "rule"), [("paralytic ileus", "opioids-gi-obstruction"),
                                                 ("status asthmaticus", "opioids-acute-severe-asthma")])
def test_an_entry_whose_route_is_unsettled_or_outside_keeps_the_contraindication_and_says_why(runner, entry, code, why,
                                                                                    condition, rule):
    result = runner.invoke(cli, ["check", entry, "-c", condition, "--format", "json"])
    report = json.loads(result.stdout)
    assert (result.exit_code, [(f["severity"], f["rule"]) for f in report["findings"]]) == (
        code, [("contraindicated", rule)])
    assert report["findings"][0]["advice"].endswith(" " + KEPT.format(why))


@pytest.mark.parametrize(("entry", "unread"), [
    ("42858-0493 1 patch SL", "the text says sublingual, the NDC's product is transdermal"),
    ("12496-0757 SL", "the text says sublingual, the NDC's product is intramuscular or intravenous"),
    ("12496-0757 inj", None),
])
def test_a_route_written_against_its_ndc_product_is_unread(runner, entry, unread):
    report = json.loads(runner.invoke(cli, ["check", entry, "--format", "json"]).stdout)
    reasons = [u["reason"] for u in report["unrecognized"]]
    assert reasons == ([f"dose not checked for buprenorphine: {unread}"] if unread else [])


@pytest.mark.parametrize("entry", ["buprenorphine 8 mg SL", "Suboxone 8 mg-2 mg buccal", "Suboxone buccal"])
def test_a_route_everything_agrees_with_still_sets_the_rule_aside(runner, entry):
    """Suboxone's own listing is sublingual: "buccal" written after it disagrees, and the cautious reading wins
    (though its film label allows buccal use: the bundled NDC Directory lists it as sublingual only)."""
    _, found = screen(runner, entry, "-c", "paralytic ileus")
    expected = [] if entry == "buprenorphine 8 mg SL" else [("contraindicated", "opioids-gi-obstruction")]
    assert [(severity, rule) for _, severity, rule, _, _ in found] == expected


def test_cassipa_is_buprenorphine_and_naloxone_and_meets_carisoprodol(runner):
    result = runner.invoke(cli, ["check", "carisoprodol", "Cassipa", "--format", "json"])
    report = json.loads(result.stdout)
    assert report["screened"]["medications"][1]["concepts"] == ["buprenorphine", "naloxone"]
    assert [(f["kind"], f["severity"], f["rule"], f["path"]) for f in report["findings"]] == [
        ("drug-drug", "major", "carisoprodol+opioids",
         ['"carisoprodol"', "carisoprodol", "⟷ rule:carisoprodol+opioids", "opioids", "opioid-partial-agonists",
          "buprenorphine", "cassipa", '"Cassipa"'])]
    assert result.exit_code == 1
    # Its own label's sublingual film: the two contraindications are set aside as for every naloxone product.
    _, found = screen(runner, "Cassipa 16/4 SL daily", "-c", "paralytic ileus")
    assert found == []


@pytest.mark.parametrize(("entry", "reason", "suggestions"), [
    ("Byvalson", "'byvalson': the FDA UNII list names only nebivolol as its component, the NDC Directory lists "
                 "nebivolol + valsartan under that name (a product's ingredients are never guessed)",
     ["nebivolol + valsartan"]),
    ("Akynzeo", "'akynzeo': the FDA UNII list names only palonosetron as its component, the NDC Directory lists "
                "fosnetupitant + palonosetron or netupitant + palonosetron under that name (a product's "
                "ingredients are never guessed)", ["fosnetupitant + palonosetron", "netupitant + palonosetron"]),
])
def test_a_brand_the_fda_list_gives_one_component_of_a_combination_is_refused(runner, entry, reason, suggestions):
    result = runner.invoke(cli, ["check", entry, "--format", "json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 3
    assert report["unrecognized"] == [{"input": entry, "field": "medication", "reason": reason,
                                       "suggestions": suggestions}]


def test_a_one_ingredient_brand_the_ndc_directory_agrees_with_is_read(runner):
    report = json.loads(runner.invoke(cli, ["check", "Belsomra", "--format", "json"]).stdout)
    assert report["screened"]["medications"][0]["concepts"] == ["suvorexant"]


def test_an_exception_sets_a_rule_aside_for_that_entry_only(runner):
    """Suboxone and Butrans together: Butrans still meets the contraindication (Butrans's path), and Suboxone
    its labels' caution (beside the same-ingredient duplicate finding, not asserted here)."""
    code, found = screen(runner, "Suboxone", "Butrans", "-c", "status asthmaticus")
    assert code == 1
    assert [(severity, rule, path[0]) for kind, severity, rule, _, path in found if kind == "drug-condition"] == [
        ("contraindicated", "opioids-acute-severe-asthma", '"Butrans"'),
        ("moderate", "opioids-respiratory-compromise", '"Suboxone"')]


def test_explain_lists_the_exceptions_with_their_reason(runner):
    result = runner.invoke(cli, ["explain", "Suboxone", "--format", "json"])
    exceptions = json.loads(result.stdout)["exceptions"]
    assert [e.split(":")[0] for e in exceptions] == [
        "opioids-acute-severe-asthma does not apply to buprenorphine taken by the sublingual route or with naloxone "
        "(sublingual or buccal) or as subutex (sublingual)",
        "opioids-gi-obstruction does not apply to buprenorphine taken by the sublingual route or with naloxone "
        "(sublingual or buccal) or as subutex (sublingual)"]
    assert all("8a5edcf9-828c-4f97-b671-268ab13a8ecd" in e for e in exceptions)
    text = runner.invoke(cli, ["explain", "Butrans"]).stdout
    assert "  exception: opioids-acute-severe-asthma does not apply to buprenorphine" in text


# --- the file ----------------------------------------------------------------------------------------------


def write_exceptions(directory, *rows):
    with open(directory / "rule_exceptions.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([EXCEPTIONS_HEADER, *rows])


@pytest.mark.parametrize(("row", "phrase"), [
    (["opioids-gi-obstruction", "buprenorphine", "route:sublingul", "r", "s", "2026-12-01", "x"],
     "entries 'route:sublingul' is none of route:<route> (one of buccal,"),
    (["opioids-gi-obstruction", "buprenorphine", "with:no-such-drug", "r", "s", "2026-12-01", "x"],
     "entries 'with:no-such-drug' is none of"),
    (["opioids-gi-obstruction", "buprenorphine", "product:buprenorphine", "r", "s", "2026-12-01", "x"],
     "product:<a product in concepts.csv>"),
    (["opioids-gi-obstruction", "buprenorphine", "route:sublingual@buccal", "r", "s", "2026-12-01", "x"],
     "entries 'route:sublingual@buccal': only with: and product: may say the routes"),
    (["opioids-gi-obstruction", "buprenorphine", "with:naloxone@sublingul", "r", "s", "2026-12-01", "x"],
     "(@<route>/<route>, each one of buccal,"),
    (["no-such-rule", "buprenorphine", "route:sublingual", "r", "s", "2026-12-01", "x"],
     "rule 'no-such-rule' is not a rule of this knowledge"),
    (["carisoprodol+opioids", "buprenorphine", "route:sublingual", "r", "s", "2026-12-01", "x"],
     "rule 'carisoprodol+opioids' is not a condition or allergy rule (conditions.csv): only those may have"),
    (["opioids-gi-obstruction", "opioids", "route:sublingual", "r", "s", "2026-12-01", "x"],
     "drug 'opioids' is a class; expected drug or substance"),
    (["opioids-gi-obstruction", "buprenorphine", "route:sublingual", "", "s", "2026-12-01", "x"],
     "'reason' is empty"),
])
def test_a_bad_exception_row_is_named_by_file_and_line(data_copy, row, phrase):
    write_exceptions(data_copy, row)
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(data_copy, use_cache=False)
    assert str(info.value).startswith("rule_exceptions.csv:2: ")
    assert phrase in str(info.value)


def test_the_same_rule_and_drug_twice_is_refused(data_copy):
    row = ["opioids-gi-obstruction", "buprenorphine", "route:sublingual", "r", "s", "2026-12-01", "x"]
    write_exceptions(data_copy, row, row)
    with pytest.raises(KnowledgeError, match=r"rule_exceptions\.csv:3: .*repeat line 2"):
        load_knowledge(data_copy, use_cache=False)


def test_validate_reports_an_exception_its_rule_does_not_reach_and_a_row_without_its_check(data_copy):
    write_exceptions(data_copy,
                     ["opioids-gi-obstruction", "carisoprodol", "route:oral", "r", "s", "2026-12-01", "x"],
                     ["opioids-sleep-apnea", "buprenorphine", "route:sublingual", "r", "s", "", ""])
    assert [str(p) for p in validate(data_copy)] == [
        "rule_exceptions.csv:2:drug: rule 'opioids-gi-obstruction' does not reach 'carisoprodol': "
        "this exception sets nothing aside",
        "rule_exceptions.csv:3:checked: '': checked must be the date the row was last checked "
        "(YYYY-MM-DD, not in the future)",
        "rule_exceptions.csv:3:checked_against: checked_against is empty"]


def test_validate_does_not_report_an_exception_to_a_rule_for_every_ingredient(data_copy):
    # The same-ingredient allergy rule (`*`) reaches every drug: setting it aside for one is not idle.
    write_exceptions(data_copy, ["same-ingredient-allergy", "buprenorphine", "route:sublingual", "r", "s",
                                 "2026-12-01", "x"])
    assert not [str(p) for p in validate(data_copy) if "sets nothing aside" in str(p)]


@pytest.mark.parametrize("words", ["SL", "under the tongue", "po", "buccally", "IM", "subq", "patch transdermally",
                                   "PR", "intranasally", "via nebulizer by inhalation", "intrathecally", "epidural",
                                   "to the skin topically", "inj", "otic route", "vaginally", "by ophthalmic route",
                                   "IV"])
def test_every_route_the_reader_writes_is_one_an_exception_may_name(words):
    """The loader checks `route:` against `model.ROUTES`; a route the sig reader writes outside it could never
    be excepted."""
    from screener.model import ROUTES
    from screener.recognize.sig import read_sig

    route = read_sig(f"1 tab {words} daily").route
    assert route and route in ROUTES


@pytest.mark.parametrize(("entry", "amounts"), [
    ("Suboxone 8 mg-2 mg sublingual film", [("buprenorphine", 8), ("naloxone", 2)]),
    ("Suboxone 8 mg - 2 mg SL daily", [("buprenorphine", 8), ("naloxone", 2)]),
    ("buprenorphine/naloxone 8/2 mg film", [("buprenorphine", 8), ("naloxone", 2)]),
])
def test_a_dash_between_two_strengths_with_units_reads_as_the_two_strengths(runner, entry, amounts):
    """As `8/2` and `8-2 mg` do (docs/sig-reading.md rule 2); a `film` that counts nothing is read like `tablet`."""
    report = json.loads(runner.invoke(cli, ["check", entry, "--format", "json"]).stdout)
    med = report["screened"]["medications"][0]
    assert [(a["concept"], a["per_unit_mg"]) for a in med["amounts"]] == amounts
    assert [u["reason"] for u in report["unrecognized"]] == [
        "naloxone is a recognised FDA substance, but this knowledge base does not classify it: its interactions "
        "were not checked"]


@pytest.mark.parametrize(("text", "strengths", "unread"), [
    ("5 mg-10 mg q6h", (10.0,), ""),         # one ingredient: a range, by its upper bound (as 5-10 mg)
    ("500 mcg-1 mg q6h", (1.0,), ""),        # each side in its own unit
    ("10 mg-5 mg q6h", (), "10-5 mg"),      # downwards: unread
])
def test_a_dash_with_units_on_both_sides_for_one_ingredient(text, strengths, unread):
    from screener.recognize.sig import read_sig, resolve

    dosing = resolve(read_sig(text), 1, ())
    assert (dosing.strengths, dosing.unread) == (strengths, unread)
