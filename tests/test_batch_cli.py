"""`screener batch` end to end: files in, findings and patients out, nothing lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import hypothesis.strategies as st
import pandas as pd
from hypothesis import given, settings

from screener.cli import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

MESSY = (
    b"patient_id,medications,conditions,allergies,age\n"
    b'1,"Soma 350 mg qid;Xanax",pregnancy,,45\n'
    b'2,"Soma;Xanax,45\n'                       # broken quoting
    b"3,gabapentin,,,30\n"
    b"4,a,b,c\n"                                # too few fields
    b"5,caf\xe9,,,20\n"                         # not UTF-8
    b"\n"                                       # blank: skipped, not a patient
    b"=HYPERLINK(1),Soma;Norco,,,70\n"          # formula in the id
    b",Tylenol,,,\n"                            # missing id
    b"8,xyzzymab,,NKDA,abc\n"                   # bad age
    b"9,+xyzzy,,,\n"                            # unrecognised item starting with +
    b"10,Soma,,,30,extra\n"                     # too many fields
)


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def invoke(runner, *args, **kw):
    return runner.invoke(cli, ["batch", *map(str, args)], catch_exceptions=False, **kw)


def test_every_line_is_one_patient_and_bad_rows_are_invalid_with_a_reason(runner, tmp_path):
    src = tmp_path / "messy.csv"
    src.write_bytes(MESSY)
    result = invoke(runner, src, "-o", tmp_path / "f.csv", "--patients", tmp_path / "p.csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("screener batch: 10 patients (2 with findings, 1 no findings, 1 incomplete, "
                                    "6 invalid);")
    patients = read(tmp_path / "p.csv")
    assert patients["line"].tolist() == ["2", "3", "4", "5", "6", "8", "9", "10", "11", "12"]
    errors = dict(zip(patients["line"], patients["error"]))
    assert errors["3"] == "line 3: broken quoting: a quote is not closed"
    assert errors["5"] == "line 5: 4 fields, expected 5"
    assert errors["6"].startswith("line 6: not valid UTF-8 (byte 0xe9")
    assert errors["9"] == "missing patient_id"
    assert errors["10"] == "age 'abc' is not a number of years"
    assert errors["12"] == "line 12: 6 fields, expected 5"
    assert set(patients.loc[patients["error"] != "", "status"]) == {"invalid"}
    findings = read(tmp_path / "f.csv")
    assert set(findings["patient_id"]) == {"1", "'=HYPERLINK(1)"}


def test_csv_cells_that_look_like_formulas_are_neutralised(runner, tmp_path):
    src = tmp_path / "messy.csv"
    src.write_bytes(MESSY)
    invoke(runner, src, "-o", tmp_path / "f.csv", "--patients", tmp_path / "p.csv")
    text = (tmp_path / "p.csv").read_text()
    assert "'=HYPERLINK(1)" in text and ',"=HYPERLINK' not in text
    assert "\"'+xyzzy (medication:" in text
    # Parquet keeps values as they are.
    invoke(runner, src, "-o", tmp_path / "f.parquet", "--patients", tmp_path / "p.parquet")
    assert "=HYPERLINK(1)" in set(pd.read_parquet(tmp_path / "p.parquet")["patient_id"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.text(alphabet="=+-@\t\r' aé☃", max_size=4), max_size=30), st.booleans())
def test_a_cell_is_neutralised_exactly_when_it_starts_like_a_formula(texts, as_dictionary):
    import pyarrow as pa

    from screener.batch.writers import FORMULA_START, neutralise

    column = pa.array(texts, type=pa.string())
    table = pa.table({"text": column.dictionary_encode() if as_dictionary else column})
    got = neutralise(table).column("text").to_pylist()
    assert got == [t if t is None or t[:1] not in FORMULA_START else "'" + t for t in texts]


def test_strict_stops_at_the_first_invalid_row(runner, tmp_path):
    src = tmp_path / "messy.csv"
    src.write_bytes(MESSY)
    result = invoke(runner, src, "--strict", "-o", tmp_path / "f.csv")
    assert result.exit_code == 2
    assert result.stderr == ("Error: invalid input at line 3 (patient '2'): "
                             "line 3: broken quoting: a quote is not closed\n")


def test_stdin_gzip_and_globs_read_the_same(runner, tmp_path):
    data = (EXAMPLES / "patients.csv").read_bytes()
    plain = invoke(runner, EXAMPLES / "patients.csv")
    piped = invoke(runner, "-", input=data)
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(data))
    zipped = invoke(runner, tmp_path / "a.csv.gz")
    assert plain.exit_code == piped.exit_code == zipped.exit_code == 0
    assert plain.stdout == piped.stdout == zipped.stdout
    assert plain.stdout.startswith('"patient_id","kind","severity","title"')
    # Two files of one population: each patient's rows are one patient (a re-exported row
    # adds no duplicate therapy), named by the file of its first row.
    (tmp_path / "b.csv").write_bytes(data)
    (tmp_path / "c.csv").write_bytes(data)
    both = invoke(runner, tmp_path / "[bc].csv", "--patients", tmp_path / "p.csv", "-o", tmp_path / "f.csv")
    assert both.exit_code == 0
    patients = read(tmp_path / "p.csv")
    alone = invoke(runner, tmp_path / "b.csv", "--patients", tmp_path / "p1.csv", "-o", tmp_path / "f1.csv")
    assert alone.exit_code == 0
    assert sorted(patients["patient_id"]) == sorted(read(tmp_path / "p1.csv")["patient_id"])
    assert set(patients["source_file"]) == {str(tmp_path / "b.csv")}
    assert len(read(tmp_path / "f.csv")) == len(read(tmp_path / "f1.csv"))
    assert "read again grouped by patient id" in both.stderr


def test_files_of_a_glob_are_named_in_the_outputs(runner, tmp_path):
    (tmp_path / "a.csv").write_text("patient_id,medications\n1,Soma\n2,Norco\n")
    (tmp_path / "b.csv").write_text("patient_id,medications\n3,Xanax;Norco\n")
    result = invoke(runner, tmp_path / "*.csv", "--patients", tmp_path / "p.out.csv", "-o", tmp_path / "f.out.csv")
    assert result.exit_code == 0, result.stderr
    patients = read(tmp_path / "p.out.csv")
    assert dict(zip(patients["patient_id"], patients["source_file"])) == {
        "1": str(tmp_path / "a.csv"), "2": str(tmp_path / "a.csv"), "3": str(tmp_path / "b.csv")}
    assert set(read(tmp_path / "f.out.csv")["source_file"]) == {str(tmp_path / "b.csv")}


def test_output_formats_hold_the_same_rows(runner, tmp_path):
    for name in ("f.csv", "f.parquet", "f.jsonl"):
        assert invoke(runner, EXAMPLES / "patients.csv", "-o", tmp_path / name).exit_code == 0
    csv_rows = read(tmp_path / "f.csv")
    parquet_rows = pd.read_parquet(tmp_path / "f.parquet")
    json_rows = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert len(csv_rows) == len(parquet_rows) == len(json_rows) > 5
    assert list(csv_rows.columns) == list(parquet_rows.columns) == list(json_rows[0])
    assert list(csv_rows.columns)[:10] == ["patient_id", "kind", "severity", "title", "concepts", "inputs", "summary",
                                           "advice", "ncpdp", "source"]
    assert csv_rows["title"].tolist() == parquet_rows["title"].tolist() == [r["title"] for r in json_rows]


def test_small_blocks_give_the_same_output_as_one_block(runner, tmp_path, kb):
    from screener.batch.synthetic import write_patients_csv

    src = tmp_path / "pop.csv"
    write_patients_csv(src, kb.index, 6000, seed=9, carisoprodol=0.2, caution=0.3)
    one = invoke(runner, src, "--patients", tmp_path / "p1.csv", "-o", tmp_path / "f1.csv")
    many = invoke(runner, src, "--patients", tmp_path / "p2.csv", "-o", tmp_path / "f2.csv", "--block-size", "1")
    assert one.exit_code == many.exit_code == 0
    assert (tmp_path / "p1.csv").read_bytes() == (tmp_path / "p2.csv").read_bytes()
    assert (tmp_path / "f1.csv").read_bytes() == (tmp_path / "f2.csv").read_bytes()
    assert len(read(tmp_path / "p1.csv")) == 6000


def test_items_spread_over_many_blocks_are_grouped_per_patient(runner, tmp_path, kb):
    rows = ["patient_id,kind,value"]
    for i in range(30_000):
        rows.append(f"p{i % 7000},medication,{'Soma 350 mg qid' if i % 7 == 0 else 'ibuprofen 200 mg'}")
        if i % 5000 == 0:
            rows.append(f"p{i % 7000},medication,Xanax")
    (tmp_path / "items.csv").write_text("\n".join(rows) + "\n")
    result = invoke(runner, tmp_path / "items.csv", "--block-size", "1", "--patients", tmp_path / "p.csv",
                    "-o", tmp_path / "f.csv")
    assert result.exit_code == 0
    patients = read(tmp_path / "p.csv")
    assert len(patients) == 7000 and patients["patient_id"].is_unique
    findings = read(tmp_path / "f.csv")
    # Rows of one patient came from blocks far apart: the duplicate of ibuprofen and Soma + Xanax are still found.
    assert set(findings.loc[findings["patient_id"] == "p0", "title"]) >= {"carisoprodol + alprazolam",
                                                                          "carisoprodol listed twice"}


def test_claims_interact_only_while_supplies_overlap(runner, tmp_path):
    result = invoke(runner, EXAMPLES / "claims.csv", "--patients", tmp_path / "p.csv", "-o", tmp_path / "f.csv")
    assert result.exit_code == 0
    findings = read(tmp_path / "f.csv")
    got = {(r.patient_id, r.title): (r.overlap_start, r.overlap_days) for r in findings.itertuples()}
    assert got[("3001", "carisoprodol + oxycodone")] == ("2024-01-20", "10")
    assert ("3001", "carisoprodol + alprazolam") not in got  # alprazolam was filled after carisoprodol ran out
    assert got[("3001", "carisoprodol supplied for 30 of 90 days (limit 21 days)")] == ("2024-01-02", "30")
    assert got[("3002", "carisoprodol supplied for 42 of 90 days (limit 21 days)")] == ("2024-01-01", "42")
    assert got[("3004", "carisoprodol + hydrocodone + alprazolam")] == ("2024-02-20", "10")
    assert got[("3004", "hydrocodone + alprazolam")] == ("2024-02-15", "16")
    assert not any(p == "3003" for p, _ in got)  # Soma ran out before Xanax was filled
    assert read(tmp_path / "p.csv")["status"].tolist() == ["findings", "findings", "no-findings", "findings"]


def test_claims_window_option_changes_the_duration_count(runner, tmp_path):
    result = invoke(runner, EXAMPLES / "claims.csv", "--window", "30", "-o", tmp_path / "f.csv")
    assert result.exit_code == 0
    titles = set(read(tmp_path / "f.csv")["title"])
    assert "carisoprodol supplied for 30 of 30 days (limit 21 days)" in titles
    assert not any(t.startswith("carisoprodol supplied") and "3002" in t for t in titles)


def test_claims_rows_with_bad_dates_or_supply_make_their_patient_invalid(runner, tmp_path):
    (tmp_path / "c.csv").write_text(
        "member,drug,fill_date,days_supply\n"
        "a,carisoprodol,2024-01-01,30\n"
        "a,Xanax,2024-13-01,30\n"
        "b,Xanax,20240105,0\n"
        "c,Xanax,1/5/2024,30\n")
    result = invoke(runner, tmp_path / "c.csv", "--column", "patient_id=member", "--patients", tmp_path / "p.csv",
                    "-o", tmp_path / "f.csv")
    assert result.exit_code == 0
    patients = read(tmp_path / "p.csv").set_index("patient_id")
    assert patients.loc["a", "error"] == "line 3: fill_date '2024-13-01' is not a date (use YYYY-MM-DD)"
    assert patients.loc["b", "error"].startswith("line 4: days_supply '0' is not a whole number of days")
    assert patients.loc["c", "status"] == "no-findings"


def test_examples_cover_every_layout(runner, tmp_path):
    for name, layout, n in (("patients.csv", "patients", 7), ("items.csv", "items", 4), ("claims.csv", "claims", 4)):
        result = invoke(runner, EXAMPLES / name, "--patients", tmp_path / "p.csv", "-o", tmp_path / "f.csv")
        assert result.exit_code == 0, name
        assert len(read(tmp_path / "p.csv")) == n
        invoke(runner, EXAMPLES / name, "--layout", layout, "-o", tmp_path / "g.csv")
        assert (tmp_path / "g.csv").read_bytes() == (tmp_path / "f.csv").read_bytes()


def test_usage_errors_exit_2(runner, tmp_path):
    assert invoke(runner, tmp_path / "missing.csv").exit_code == 2
    (tmp_path / "x.csv").write_text("id,drugs\n1,Soma\n")
    result = invoke(runner, tmp_path / "x.csv")
    assert result.exit_code == 2 and "cannot tell the layout" in result.stderr
    result = invoke(runner, tmp_path / "x.csv", "--column", "patient_id=id", "--column", "medications=drugs")
    assert result.exit_code == 0
    assert invoke(runner, tmp_path / "x.csv", "--column", "nonsense").exit_code == 2
    assert invoke(runner, tmp_path / "x.csv", "--scheduler", "tcp://x:1").exit_code == 2
    assert invoke(runner, EXAMPLES / "patients.csv", "-o", tmp_path / "f.parquet", "--output-format", "csv") \
        .exit_code == 0


def test_fail_on_exits_1_when_a_finding_reaches_it(runner, tmp_path):
    assert invoke(runner, EXAMPLES / "patients.csv", "-o", tmp_path / "f.csv", "--fail-on", "major").exit_code == 1
    assert invoke(runner, EXAMPLES / "patients.csv", "-o", tmp_path / "f.csv").exit_code == 0


def test_check_and_help_do_not_import_pandas():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from screener.cli import cli; "
            "CliRunner().invoke(cli, ['check', 'Soma']); CliRunner().invoke(cli, ['batch', '--help']); "
            "print('pandas' in sys.modules, 'pyarrow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_claims_combination_names_each_drug_that_filled_a_role_and_counts_all_its_days(runner, tmp_path):
    (tmp_path / "c.csv").write_text(
        "patient_id,drug,fill_date,days_supply\n"
        "p1,Soma 350 mg,2024-03-01,20\n"
        "p1,Xanax 0.5 mg,2024-03-01,20\n"
        "p1,Percocet,2024-03-01,10\n"   # days 1-10
        "p1,Norco,2024-03-11,10\n",     # days 11-20: another opioid, same combination
        encoding="utf-8")
    assert invoke(runner, tmp_path / "c.csv", "-o", tmp_path / "f.csv").exit_code == 0
    findings = read(tmp_path / "f.csv")
    combination = findings[findings["kind"] == "combination"]
    assert len(combination) == 1
    row = combination.iloc[0]
    assert set(row["concepts"].split("; ")) == {"carisoprodol", "oxycodone", "hydrocodone", "alprazolam"}
    assert (row["overlap_start"], row["overlap_days"]) == ("2024-03-01", "20")


def test_a_claims_strength_already_in_the_drug_text_is_not_added_again(runner, tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text("patient_id,drug,fill_date,days_supply,quantity,strength\n"
                      "m1,Soma 350 mg,2024-01-01,30,120,350\n"
                      "m2,Soma 350 mg,2024-01-01,30,120,250\n"
                      "m3,carisoprodol,2024-01-01,30,120,350\n", encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(claims), "-o", str(tmp_path / "f.csv"),
                                 "--patients", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    import csv as _csv

    status = {r["patient_id"]: (r["status"], r["unrecognized"]) for r in
              _csv.DictReader((tmp_path / "p.csv").open(encoding="utf-8"))}
    assert status["m1"][0] != "incomplete" and status["m3"][0] != "incomplete"
    # Two strengths that disagree are reported, not reconciled.
    assert status["m2"][0] == "incomplete" and "two different strengths" in status["m2"][1]


def test_claims_duration_counts_combination_fills_of_the_limited_ingredient(runner, tmp_path):
    # 14 days of Soma, then 14 of carisoprodol/aspirin: 28 days of carisoprodol (limit 21).
    (tmp_path / "c.csv").write_text(
        "patient_id,drug,fill_date,days_supply\n"
        "p1,Soma 350 mg,2024-03-01,14\n"
        "p1,carisoprodol and aspirin,2024-03-15,14\n"
        "p2,Soma 350 mg,2024-03-01,14\n", encoding="utf-8")
    assert invoke(runner, tmp_path / "c.csv", "-o", tmp_path / "f.csv").exit_code == 0
    findings = read(tmp_path / "f.csv")
    duration = findings[findings["kind"] == "duration"]
    assert list(duration["patient_id"]) == ["p1"]
    assert "supplied for 28 of 90 days" in duration.iloc[0]["title"]
