"""A combination product is read with all of its ingredients or refused, never read as part of itself.

The reviewer's entries (issue 13), each screened beside Soma: a vocabulary product or brand whose ingredients
differ from every set the NDC Directory lists under its name is refused with those sets as suggestions; a word
or number right after a product name that is not dosing ("AC", "#3") is refused as a possible other product,
never a dose not checked or a quantity; Ascomp with Codeine is its NDC listing, not the UNII list's aldioxa.
"""

from __future__ import annotations

import json

import pytest

from screener.cli import cli


def check(runner, *entries):
    """(exit code, report) of `screener check Soma ENTRIES --format json`."""
    result = runner.invoke(cli, ["check", "Soma", *entries, "--format", "json"])
    return result.exit_code, json.loads(result.stdout)


def refusal(reason, suggestions=()):
    return {"field": "medication", "reason": reason, "suggestions": list(suggestions)}


NEVER_GUESSED = "under that name (a product's ingredients are never guessed)"


@pytest.mark.parametrize(("entry", "expected"), [
    ("Biktarvy", refusal("'biktarvy': the FDA UNII list gives its components as bictegravir + tenofovir "
                         "alafenamide, the NDC Directory lists bictegravir + emtricitabine + tenofovir alafenamide "
                         + NEVER_GUESSED, ["bictegravir + emtricitabine + tenofovir alafenamide"])),
    ("Symtuza", refusal("'symtuza': the FDA UNII list gives its components as cobicistat + darunavir ethanolate + "
                        "tenofovir alafenamide, the NDC Directory lists cobicistat + darunavir + emtricitabine + "
                        "tenofovir alafenamide " + NEVER_GUESSED,
                        ["cobicistat + darunavir + emtricitabine + tenofovir alafenamide"])),
    # A brand row (`bn`) is compared too.
    ("Dovato", refusal("'dovato': the FDA UNII list gives it as dolutegravir, the NDC Directory lists dolutegravir "
                       "+ lamivudine " + NEVER_GUESSED, ["dolutegravir + lamivudine"])),
    # An ingredient too many is as wrong as one too few.
    ("Odefsey", refusal("'odefsey': the FDA UNII list gives its components as emtricitabine + rilpivirine + "
                        "tenofovir alafenamide + tenofovir disoproxil, the NDC Directory lists emtricitabine + "
                        "rilpivirine + tenofovir alafenamide " + NEVER_GUESSED,
                        ["emtricitabine + rilpivirine + tenofovir alafenamide"])),
    ("Midol", refusal("'midol': the FDA UNII list gives it as ibuprofen, the NDC Directory lists acetaminophen + "
                      "caffeine + pyrilamine " + NEVER_GUESSED, ["acetaminophen + caffeine + pyrilamine"])),
])
def test_a_product_read_differently_from_its_ndc_listing_is_refused_with_the_listed_sets(runner, entry, expected):
    code, report = check(runner, entry)
    assert code == 3
    assert report["unrecognized"] == [{"input": entry, **expected}]
    assert [m["concepts"] for m in report["screened"]["medications"]] == [["carisoprodol"], []]


def test_an_allergy_to_a_refused_product_says_why_it_was_refused(runner):
    # Not "not recognised" with the same name as the suggestion, which would be refused again.
    code, report = check(runner, "-a", "Biktarvy")
    assert code == 3
    assert report["unrecognized"] == [{"input": "Biktarvy", "field": "allergy", "reason": (
        "'biktarvy': the FDA UNII list gives its components as bictegravir + tenofovir alafenamide, the NDC Directory "
        "lists bictegravir + emtricitabine + tenofovir alafenamide " + NEVER_GUESSED),
        "suggestions": ["bictegravir + emtricitabine + tenofovir alafenamide"]}]


def test_a_combination_the_ndc_directory_confirms_is_read_with_every_ingredient(runner):
    code, report = check(runner, "Prezcobix")
    assert report["screened"]["medications"][1]["concepts"] == ["darunavir-ethanolate", "cobicistat"]
    assert report["screened"]["medications"][1]["via"] == "FDA vocabulary"
    assert code == 3  # only because neither ingredient is classified here
    assert "NDC Directory lists" not in json.dumps(report["unrecognized"])


CAFFEINE = "caffeine is a recognised FDA substance, but this knowledge base does not classify it: its interactions were not checked"
GUAIFENESIN = CAFFEINE.replace("caffeine", "guaifenesin")
FIORINAL = ("only butalbital, aspirin, caffeine screened, not what it may add; write the product's full name or its "
            "ingredients; " + CAFFEINE)


@pytest.mark.parametrize(("entry", "written", "dosing"), [
    ("Fiorinal #3", "#3", None), ("Fiorinal No. 3", "no. 3", None), ("Fiorinal #3 1 cap q4h prn", "#3", 6.0)])
def test_a_number_after_a_product_name_is_reported_as_a_possible_codeine_combination(runner, entry, written, dosing):
    """Soma + Fiorinal #3: the barbiturate and aspirin findings of what Fiorinal surely holds, and the entry
    unrecognised saying the codeine may be missing (never a quantity of 3)."""
    code, report = check(runner, entry)
    assert code == 1  # the moderate finding; the status says incomplete
    assert report["status"] == "incomplete"
    assert [f["rule"] for f in report["findings"]] == ["carisoprodol+barbiturates", "carisoprodol+aspirin"]
    assert report["unrecognized"] == [{"input": entry, **refusal(
        f"'{written}' after Fiorinal may number a codeine combination (as in Tylenol #3, Tylenol with Codeine): "
        + FIORINAL, ["Fiorinal with Codeine"])}]
    med = report["screened"]["medications"][1]
    assert med["concepts"] == ["butalbital", "aspirin", "caffeine"]
    assert "quantity" not in json.dumps(med)
    assert "amounts" not in med  # Fiorinal's own strengths are not assumed for what may be another product
    if dosing is not None:
        assert med["doses_per_day"] == dosing


def test_the_numbered_products_the_knowledge_base_names_and_a_quantity_are_still_read(runner):
    _, report = check(runner, "Tylenol #3", "Soma #30")
    assert [m["concepts"] for m in report["screened"]["medications"]] == [
        ["carisoprodol"], ["acetaminophen", "codeine"], ["carisoprodol"]]
    assert report["unrecognized"] == []
    assert "carisoprodol+opioids" in [f["rule"] for f in report["findings"]]


@pytest.mark.parametrize(("entry", "written", "adds"), [
    ("Robitussin AC", "ac", "products listed in the NDC Directory as '… AC' with guaifenesin also hold codeine "
                            "(Cheratussin AC, Coditussin AC, G Tussin AC …)"),
    ("Robitussin DAC", "dac", "products listed in the NDC Directory as '… DAC' with guaifenesin also hold codeine or "
                              "pseudoephedrine (Coditussin DAC, Guaifenesin DAC, VIRTUSSIN DAC)"),
])
def test_a_word_after_a_brand_that_may_name_codeine_is_reported_saying_so(runner, entry, written, adds):
    code, report = check(runner, entry)
    assert code == 3
    assert report["findings"] == []
    assert report["unrecognized"] == [{"input": entry, **refusal(
        f"'{written}' after robitussin may name another ingredient: {adds}: only guaifenesin screened, not what it "
        "may add; write the product's full name or its ingredients; " + GUAIFENESIN)}]
    assert "dose not checked" not in report["unrecognized"][0]["reason"]


def test_a_word_after_a_product_name_says_what_the_knowledge_base_has_under_that_name(runner):
    _, report = check(runner, "Soma DS")
    assert report["unrecognized"] == [{"input": "Soma DS", **refusal(
        "'ds' after Soma may name another ingredient (a product name with a suffix is often another product): only "
        "carisoprodol screened, not what it may add; write the product's full name or its ingredients",
        ["Soma Complex", "Soma Compound", "Soma Compound with Codeine"])}]
    assert [f["rule"] for f in report["findings"]] == ["duplicate-carisoprodol"]


@pytest.mark.parametrize("entry", ["Ascomp with codeine", "Ascomp w/ Codeine 1 cap q4h prn"])
def test_ascomp_with_codeine_is_its_ndc_listing_and_meets_carisoprodol(runner, entry):
    code, report = check(runner, entry)
    assert report["screened"]["medications"][1]["concepts"] == ["butalbital", "aspirin", "caffeine", "codeine"]
    assert [f["rule"] for f in report["findings"]][:2] == ["carisoprodol+opioids", "carisoprodol+barbiturates"]
    assert report["findings"][0]["severity"] == "major"
    assert code == 1


def test_a_brand_is_no_ingredient_name_to_join(runner):
    """The UNII list's Ascomp is aldioxa: 'Ascomp and codeine' is not read as aldioxa joined with codeine."""
    _, report = check(runner, "Ascomp and codeine")
    assert "aldioxa" not in json.dumps(report["screened"])
    assert report["unrecognized"][0]["input"] == "Ascomp and codeine"


@pytest.mark.parametrize("entry", ["Soma and Xanax", "Soma Xanax"])
def test_another_medication_after_a_product_name_is_still_said_as_such(runner, entry):
    _, report = check(runner, entry)
    assert report["unrecognized"][0]["reason"] == ("holds more than one medication (Soma, Xanax); list each "
                                                   "medication separately")


NAMES = ["soma", "odefsey", "biktarvy", "ascomp with codeine", "tylenol with codeine", "suboxone", "midol",
         "robitussin", "cheratussin ac", "no such product name"]


def test_the_ndc_listings_of_a_name_are_the_same_searched_alone_or_from_the_index_of_every_name(monkeypatch):
    """A batch asks about many names and gets them from one index; a check searches each: the same listings."""
    from pathlib import Path

    import screener.ndc as ndc
    from screener.paths import bundled_data_dir

    searched = ndc.NdcDirectory(Path(bundled_data_dir()) / "ndc")
    alone = {n: searched.listings(n) for n in NAMES}
    monkeypatch.setattr(ndc, "NAME_SEARCHES", 0)
    indexed = ndc.NdcDirectory(Path(bundled_data_dir()) / "ndc")
    assert {n: indexed.listings(n) for n in NAMES} == alone
    assert alone["no such product name"] == frozenset()
    assert {uniis for uniis, _ in alone["ascomp with codeine"]} == {
        frozenset({"KHS0AZ4JVK", "R16CO5Y76E", "3G6A5W338E", "Q830PW7520"})}
