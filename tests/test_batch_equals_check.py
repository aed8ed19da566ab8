"""Batch equals check: every batch engine gives, patient by patient, the findings of the library walk.

A hypothesis property over generated populations, on three knowledge bases:
the bundled one, the tests' tiny one, and the bundled one under a local layer
that adds a rule, raises a severity and switches a rule off. The engines are
`screen_frame` (in process), `run` with small blocks, `run` in two worker
processes and, in the slow set, Dask. Findings are compared field by field
and in order; statuses and unrecognised items too.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import screener
from conftest import TINY, write_knowledge
from screener.batch import run, screen_frame
from screener.batch.engine import ITEM_SEPARATOR, LIST_SEPARATOR, describe
from screener.batch.synthetic import Population
from screener.batch.writers import Writer, format_for
from screener.errors import InputError
from screener.model import FindingKind

BUNDLED_NAMES = ["Soma", "Soma 500 mg qid", "carisoprodol 350 mg tid x 30 days", "Soma 350 mg qid x 4 weeks",
                 "Norco", "Vicodin", "Xanax", "Percocet", "gabapentin", "alcohol", "omeprazole", "rifampin",
                 "meprobamate", "zolpidem", "Tylenol", "Tylenol #3", "lisinopril", "Zestril", "quetiapine",
                 "xyzzymab", "Lyrica", "Suboxone", "Soma Compound with Codeine", "Klonopin", "carisoprodol 250 mg",
                 "ibuprofen", "Advil", "Soma\x07", "oxycodone 5 mg q6h", "T3 1 tab q6h", "heroin", "clarithromycin",
                 "buprenorphine 8 mg SL daily", "Butrans 10 mcg/hr patch", "Subutex", "42858-0493 1 patch SL",
                 "12496-0757 SL", "buprenorphine transdermal SL", "Subutex 8 mg IV", "Suboxone 8 mg IM", "Butrans SL",
                 "Belbuca SL", "Cassipa", "Akynzeo", "Fiorinal #3", "Robitussin AC", "Robitussin DAC",
                 "Ascomp with codeine", "Biktarvy", "Symtuza", "Dovato", "Odefsey", "Soma DS"]
BUNDLED_CONDITIONS = ["pregnancy", "breastfeeding", "cirrhosis", "CKD stage 4", "AIP", "alcohol use disorder",
                      "K74.60", "Z33.1", "history of drug abuse", "hypertension", "nonsense-condition", "h/o COPD",
                      "hx of status asthmaticus", "J45.902", "CKD4", "IVDU", "family history of alcoholism", "CKD I",
                      "N18.1", "K56.0", "COPD on home O2", "OSA on CPAP", "? OSA", "no COPD", "CKD on dialysis",
                      "RA", "OSA ruled out?", "? no COPD", "r/o no SBO", "no COPD exacerbation", "not on dialysis",
                      "negative for HCV", "OSA？", "postpartum GDM", "no HTN", "? no HTN", "provisional: OSA",
                      "OSA ruled out, on CPAP", "ESRD ruled out, on dialysis", "no OSA (on CPAP)", "no OSA\u037e",
                      "no OSA \u055e", "OSA (-)", "pregnant (-)", "OSA +/-", "OSA not ruled out",
                      "HTN ruled out, controlled", "OSA", "no OSA", "not pregnant", "no sleep apnea"]
BUNDLED_ALLERGIES = ["meprobamate", "carbamates", "NKDA", "penicillin", "Soma", "codeine", "PCN, sulfa, latex",
                     "macrolides, xyzzy", "PCN (hives, rash)", "codeine, codeine"]
AGES = ["", "", "10", "15", "16", "40", "65", "66", "80", "1_0", "nan", "-1", "70 years", "131", "10" * 201]

TINY_NAMES = ["drug-a", "drug-a 150 mg", "drug-a 100 mg qid x 20 days", "drug-b", "Brand B", "drug-c", "drug-d",
              "Combo CD", "unknownium", "drug-a 100 mg SL"]
TINY_CONDITIONS = ["liver disease", "cirrhosis", "K74.60", "K74.3", "not-a-condition"]
TINY_ALLERGIES = ["benzos", "drug-b", "Brand B", "NKDA", "pollen"]

LAYER = {
    "interactions.csv": [
        ["id", "kind", "a", "b", "c", "severity", "summary", "mechanism", "advice", "plain", "evidence", "source"],
        ["gabapentin+omeprazole", "drug-drug", "gabapentin", "omeprazole", "", "major", "a local rule", "",
         "adv", "pl", "label", "Local P&T 2026-11"],
        # A combination naming a condition, between drugs and a condition no other rule joins: only the
        # combination's own trigger can flag these patients and keep their condition for the walk.
        ["omeprazole+nsaids+ckd-stage-1", "combination", "omeprazole", "nsaids", "ckd-stage-1", "minor",
         "a local combination with a condition", "", "adv", "pl", "label", "Local P&T 2026-11"],
    ],
    "overrides.csv": [
        ["rule", "action", "severity", "reason", "source"],
        ["carisoprodol+cyp2c19-inhibitors", "severity", "major", "local policy", "Local P&T 2026-11"],
        ["carisoprodol+benzodiazepines", "off", "", "screened by the ward team", "Local P&T 2026-11"],
    ],
}


@pytest.fixture(scope="module")
def knowledges(tmp_path_factory):
    """(knowledge, medication names, conditions, allergies) for each of the three knowledge bases."""
    root = tmp_path_factory.mktemp("kbs")
    tiny = screener.load_knowledge(write_knowledge(root / "tiny", {k: [list(r) for r in v] for k, v in TINY.items()}))
    layered = screener.load_knowledge(layers=[write_knowledge(root / "local", LAYER)])
    bundled = (BUNDLED_NAMES, BUNDLED_CONDITIONS, BUNDLED_ALLERGIES)
    return {
        "bundled": (screener.load_knowledge(), *bundled),
        "tiny": (tiny, TINY_NAMES, TINY_CONDITIONS, TINY_ALLERGIES),
        "layered": (layered, *bundled),
    }


def patients(names, conditions, allergies):
    """Populations of 1–30 patients drawn from these pools (entries may repeat within a list)."""
    one = st.tuples(st.lists(st.sampled_from(names), max_size=6), st.lists(st.sampled_from(conditions), max_size=3),
                    st.lists(st.sampled_from(allergies), max_size=2), st.sampled_from(AGES))
    return st.lists(one, min_size=1, max_size=30)


def expected(kb, meds, conditions, allergies, age):
    """What the library says for one patient, in the batch output's terms."""
    if not meds:  # `check` refuses a patient with no medication, and so does batch (invalid)
        return ("invalid", [], "", "")
    try:
        report = kb.screen(meds, conditions, allergies, age)
    except InputError:
        return "invalid", [], "", ""
    rows = [(f.kind.value, f.severity.value, f.title, LIST_SEPARATOR.join(f.concepts), LIST_SEPARATOR.join(f.inputs),
             f.summary, f.advice, f.rule_id, f.evidence, dict(f.codes).get("ncpdp", ""), ITEM_SEPARATOR.join(f.sources),
             f.layer)
            for f in report.findings]
    suppressed = ITEM_SEPARATOR.join(f"{s.severity.value} {s.title} (rule {s.rule_id}; off by layer '{s.layer}': "
                                     f"{s.reason})" for s in report.suppressed)
    return report.status.value, rows, ITEM_SEPARATOR.join(describe(u) for u in report.unrecognized), suppressed


def by_patient(findings: pd.DataFrame, patients_out: pd.DataFrame) -> dict[str, tuple]:
    """{patient id: (status, finding rows in order, unrecognised text)} from batch outputs."""
    rows: dict[str, list] = {}
    columns = ["kind", "severity", "title", "concepts", "inputs", "summary", "advice", "rule", "evidence", "ncpdp",
               "source", "layer"]
    for row in findings.fillna("").astype("str").itertuples(index=False):
        rows.setdefault(row.patient_id, []).append(tuple(getattr(row, c) for c in columns))
    out = {}
    for row in patients_out.fillna("").astype("str").itertuples(index=False):
        out[row.patient_id] = (row.status, rows.get(row.patient_id, []), row.unrecognized, row.suppressed)
    return out


def write_population(path: Path, population) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "medications", "conditions", "allergies", "age"])
        for n, (meds, conditions, allergies, age) in enumerate(population):
            writer.writerow([f"p{n}", ";".join(meds), ";".join(conditions), ";".join(allergies), age])


def screened_frame(kb, source: Path, population) -> dict[str, tuple]:
    """`population` written to `source`, read back as a DataFrame and screened by `screen_frame` (`by_patient`)."""
    write_population(source, population)
    return by_patient(*screen_frame(pd.read_csv(source, dtype=str, keep_default_na=False), knowledge=kb))


def run_files(kb, source: Path, folder: Path, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`batch.run` (or `run_dask` with `dask=`) over a file, outputs read back as DataFrames."""
    folder.mkdir(parents=True, exist_ok=True)
    f, p = folder / "f.csv", folder / "p.csv"
    runner = run
    if "scheduler" in options:
        from screener.batch.dask_engine import run_dask as runner
    runner(str(source), knowledge=kb, findings_out=Writer(str(f), format_for(str(f), None)),
           patients_out=Writer(str(p), format_for(str(p), None)), **options)
    read = {"dtype": str, "keep_default_na": False}
    return pd.read_csv(f, **read), pd.read_csv(p, **read)


def check_equal(kb, population, got: dict[str, tuple]) -> None:
    assert sorted(got) == sorted(f"p{n}" for n in range(len(population)))
    for n, patient in enumerate(population):
        meds, conditions, allergies, age = patient
        status, rows, unrecognized, suppressed = expected(kb, [m.strip() for m in meds if m.strip()], conditions,
                                                          allergies, age)
        assert got[f"p{n}"][0] == status, patient
        if status != "invalid":
            assert got[f"p{n}"][1:] == (rows, unrecognized, suppressed), patient


ENGINES = ["frame", "blocks", "jobs2"]


@pytest.mark.parametrize("name", ["bundled", "tiny", "layered"])
def test_every_engine_gives_the_library_findings(knowledges, tmp_path_factory, name):
    kb, names, conditions, allergies = knowledges[name]

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(patients(names, conditions, allergies))
    def prop(population):
        folder = tmp_path_factory.mktemp("pop")
        source = folder / "patients.csv"
        write_population(source, population)
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        for engine in ENGINES:
            if engine == "frame":
                got = by_patient(*screen_frame(frame, knowledge=kb))
            elif engine == "blocks":
                got = by_patient(*run_files(kb, source, folder / engine, jobs=1, block_bytes=200))
            else:
                got = by_patient(*run_files(kb, source, folder / engine, jobs=2, block_bytes=200))
            check_equal(kb, population, got)

    prop()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bundled", "tiny", "layered"])
def test_the_dask_engine_gives_the_library_findings(knowledges, tmp_path_factory, name):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    kb, names, conditions, allergies = knowledges[name]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:

        @settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(patients(names, conditions, allergies))
        def prop(population):
            folder = tmp_path_factory.mktemp("dask")
            source = folder / "patients.csv"
            write_population(source, population)
            got = by_patient(*run_files(kb, source, folder / "out", block_bytes=300, scheduler=cluster.scheduler_address))
            check_equal(kb, population, got)

        prop()


def test_a_generated_population_exercises_every_kind_of_finding(kb):
    """The comparison proves little unless every family fires: the kinds come from the enum itself."""
    rows = list(Population(kb.index, 11, carisoprodol=0.35, caution=0.5, unknown=0.1, conditions=0.3,
                           allergies=0.3).rows(400))
    rows += [("e1", "Norco;Vicodin;Xanax;Soma", "cirrhosis", "meprobamate", "70"),
             ("e2", "Soma 500 mg qid x 30 days; carisoprodol 350 mg qid", "pregnancy", "", "12")]
    frame = pd.DataFrame(rows, columns=["patient_id", "medications", "conditions", "allergies", "age"])
    findings, patients_out = screen_frame(frame, knowledge=kb)
    assert set(findings["kind"].astype("str")) == {kind.value for kind in FindingKind}
    got = by_patient(findings, patients_out)
    for row in frame.itertuples(index=False):
        split = [[p.strip() for p in cell.split(";") if p.strip()] for cell in (row.medications, row.conditions,
                                                                                row.allergies)]
        status, found, unrecognized, suppressed = expected(kb, *split, row.age)
        assert got[row.patient_id][0] == status
        if status != "invalid":
            assert got[row.patient_id][1:] == (found, unrecognized, suppressed), row


def test_batch_lists_the_rules_a_layer_switched_off_where_they_would_have_fired(knowledges):
    kb = knowledges["layered"][0]
    frame = pd.DataFrame({"patient_id": ["a", "b"], "medications": ["Soma; Xanax", "Soma; lisinopril"]})
    findings, patients_out = screen_frame(frame, knowledge=kb)
    suppressed = dict(zip(patients_out["patient_id"], patients_out["suppressed"].astype("str")))
    assert suppressed == {"a": "major carisoprodol + alprazolam (rule carisoprodol+benzodiazepines; off by layer "
                               "'local': screened by the ward team (Local P&T 2026-11))", "b": ""}
    assert "carisoprodol+benzodiazepines" not in set(findings["rule"].astype("str"))


# --- allergies to the classes the FDA indexes (issue 13, point 2) ------------------------------------------

CLASS_NAMES = ["ciprofloxacin", "Cipro 500 mg bid", "simvastatin 20 mg daily", "propofol", "dronabinol",
               "amoxicillin", "metoprolol tartrate 50 mg bid", "glipizide", "Soma", "loperamide"]
CLASS_ALLERGIES = ["fluoroquinolones", "quinolone", "statins", "HMG-CoA Reductase Inhibitors",
                   "General Anesthetic [EPC]", "Penicillin-class Antibacterial [EPC]", "beta blockers",
                   "sulfonylureas", "Opioid Agonist [EPC]", "progesterone", "xyzzyquin", "NKDA"]
CLASS_POPULATION = [(["ciprofloxacin"], [], ["fluoroquinolones"], "40"),
                    (["simvastatin 20 mg daily", "Soma"], [], ["statins"], "60"),
                    (["propofol", "dronabinol"], [], ["General Anesthetic [EPC]"], ""),
                    (["amoxicillin"], [], ["Penicillin-class Antibacterial [EPC]"], ""),
                    (["Soma"], [], ["statins"], "40"),
                    (["loperamide"], [], ["Opioid Agonist [EPC]", "xyzzyquin"], "")]


def test_batch_gives_the_fda_class_allergy_findings_check_gives(knowledges, tmp_path):
    """The drug-class allergy rule is reached by the batch prefilter (its trigger is derived from the compiled
    table like every fact rule's): each engine gives exactly the library's findings, fixed patients first."""
    kb = knowledges["bundled"][0]
    got = screened_frame(kb, tmp_path / "patients.csv", CLASS_POPULATION)
    check_equal(kb, CLASS_POPULATION, got)
    assert [rule for _, rows, _, _ in (got[f"p{n}"] for n in range(4)) for *_, rule, _, _, _, _ in rows
            if rule.endswith("allergy") or "allergy-" in rule] == [
        "quinolones-allergy-quinolones", "class-allergy", "class-allergy", "penicillins-allergy-penicillins"]


def test_every_engine_gives_the_library_fda_class_allergy_findings(knowledges, tmp_path_factory):
    kb = knowledges["bundled"][0]

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(patients(CLASS_NAMES, ["hypertension", "pregnancy"], CLASS_ALLERGIES))
    def prop(population):
        folder = tmp_path_factory.mktemp("classes")
        source = folder / "patients.csv"
        check_equal(kb, population, screened_frame(kb, source, population))
        check_equal(kb, population, by_patient(*run_files(kb, source, folder / "jobs2", jobs=2, block_bytes=200)))

    prop()


CONTRADICTING = [
    (["oxycodone"], ["no OSA", "OSA"], [], ""), (["Soma"], ["not pregnant", "pregnant"], ["PCN, sulfa, latex"], "40"),
    (["oxycodone"], ["no sleep apnea", "OSA on CPAP", "xyzzy"], ["nonsense"], ""), (["oxycodone"], ["no OSA"], [], ""),
    (["oxycodone", "xyzzymab"], ["OSA", "no OSA", "no OSA"], [], "70"), (["Soma"], ["no COPD", "COPD on home O2"], [], ""),
    (["oxycodone"], ["OSA", "no HTN"], [], ""),
]


def test_a_list_that_contradicts_itself_is_noted_alike_by_every_engine(knowledges, tmp_path):
    # Each distinct text is read alone in batch; the contradiction of ["no OSA", "OSA"] is of the whole list.
    kb = knowledges["bundled"][0]
    source = tmp_path / "patients.csv"
    got = screened_frame(kb, source, CONTRADICTING)
    check_equal(kb, CONTRADICTING, got)
    check_equal(kb, CONTRADICTING, by_patient(*run_files(kb, source, tmp_path / "jobs2", jobs=2, block_bytes=120)))
    assert [got[f"p{n}"][0] for n in range(len(CONTRADICTING))] == ["incomplete"] * 3 + ["no-findings"] + ["incomplete"] * 2 + ["findings"]
    assert got["p0"][2] == ("no OSA (condition: contradicted by 'OSA': 'no OSA' records Obstructive sleep apnoea as "
                            "absent, and 'OSA' says the patient has it (screened as present, as written): say which "
                            "is true)")
