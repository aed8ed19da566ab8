"""Real exports in, nothing lost or invented: RFC 4180 records, delimiters, encodings,
rows of one patient merged, caps, unread columns and output names (issue 14)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screener.batch import run
from screener.batch.layouts import MAX_ENTRIES
from screener.batch.writers import TableFormat, Writer
from screener.cli import cli

HEADER = "patient_id,medications,conditions,allergies,age"


def batch(runner, *args, **kw):
    return runner.invoke(cli, ["batch", *map(str, args)], catch_exceptions=False, **kw)


def patients_of(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def screen_file(tmp_path: Path, data: bytes, *args) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    from click.testing import CliRunner

    src = tmp_path / "in.csv"
    src.write_bytes(data)
    result = batch(CliRunner(), src, "-o", tmp_path / "f.csv", "--patients", tmp_path / "p.csv", *args)
    assert result.exit_code == 0, result.stderr
    return result, patients_of(tmp_path / "p.csv"), patients_of(tmp_path / "f.csv")


# --- RFC 4180 ---------------------------------------------------------------------------


def test_a_quoted_line_break_is_inside_the_cell_and_separates_entries(tmp_path):
    # What Excel writes for Alt+Enter in a cell of a CRLF file: a bare LF inside quotes.
    data = (HEADER + "\r\n1001,Soma 350 mg qid,,,34\r\n"
            '1002,"Soma 350 mg qid\nXanax 0.5 mg bid",,,50\r\n1003,Norco,,,60\r\n').encode()
    _, patients, findings = screen_file(tmp_path, data)
    assert patients["patient_id"].tolist() == ["1001", "1002", "1003"]
    assert patients["line"].tolist() == ["2", "3", "5"]  # 1002 spans lines 3 and 4
    assert set(patients["error"]) == {""}
    # The two medications of the one cell meet: the carisoprodol + benzodiazepine finding.
    mine = findings[findings["patient_id"] == "1002"]
    assert "Soma 350 mg qid; Xanax 0.5 mg bid" in set(mine["inputs"])


def test_a_quote_that_never_closes_is_one_invalid_row_and_invents_no_patient(tmp_path):
    data = (HEADER + "\n1001,Soma,,,34\n"
            '1002,"ibuprofen 400 mg tid\n'      # the closing quote was lost
            "Tylenol,,20\n"                      # the rest of the cell: no patient
            "1003,Xanax,,,60\n").encode()
    _, patients, _ = screen_file(tmp_path, data)
    assert patients["patient_id"].tolist() == ["1001", "1002", "1003"]
    errors = dict(zip(patients["patient_id"], patients["error"]))
    assert errors["1002"] == ("line 3: broken quoting: a quote is not closed (line 4 read as the rest of its "
                              "cell: too few fields to be rows)")
    assert errors["1001"] == errors["1003"] == ""


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_detected_from_the_header(tmp_path, delimiter):
    rows = [HEADER.split(","), ["1", "Soma, 350 mg", "", "", "34"], ["2", "Xanax", "", "", "40"]]
    data = "".join(delimiter.join(r) + "\n" for r in rows).encode()
    _, patients, _ = screen_file(tmp_path, data)
    assert patients["patient_id"].tolist() == ["1", "2"]
    assert set(patients["error"]) == {""}


def test_a_given_delimiter_wins_and_a_bad_one_is_refused(runner, tmp_path):
    data = b"patient_id;medications\n1;Soma|Xanax\n"
    _, patients, _ = screen_file(tmp_path, data, "--delimiter", "semicolon", "--separator", "|")
    assert patients["status"].tolist() == ["findings"]
    result = batch(runner, tmp_path / "in.csv", "--delimiter", ",")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot tell the layout from the header (patient_id;medications)")
    result = batch(runner, tmp_path / "in.csv", "--delimiter", "ab")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == ("Error: the delimiter must be one character (or comma, semicolon, "
                                              "tab, pipe), not 'ab'")


def test_trailing_empty_fields_are_accepted_and_other_extra_fields_are_not(tmp_path):
    data = (HEADER + "\n1001,Soma,,,34,,,\n1002,Xanax,,,40,,  ,\n1003,Norco,,,50,oops\n").encode()
    _, patients, _ = screen_file(tmp_path, data)
    errors = dict(zip(patients["patient_id"], patients["error"]))
    assert errors == {"1001": "", "1002": "", "1003": "line 4: 6 fields, expected 5"}


def test_other_encodings_are_read_with_encoding_and_utf16_by_its_mark(tmp_path):
    text = HEADER + "\n1001,Soma;Xanax,,,34\n1002,Tylenol,,,40\n"
    _, plain, _ = screen_file(tmp_path, text.encode())
    _, utf16, _ = screen_file(tmp_path, text.encode("utf-16"))
    assert utf16.equals(plain)
    _, latin, _ = screen_file(tmp_path, (text + "1003,Café,,,50\n").encode("cp1252"), "--encoding", "cp1252")
    assert latin["unrecognized"].iloc[-1].startswith("Café (medication:")
    # Without --encoding the byte that is not UTF-8 is one invalid row, naming the way out.
    _, guessed, _ = screen_file(tmp_path, (text + "1003,Café,,,50\n").encode("cp1252"))
    assert guessed["error"].iloc[-1].endswith("convert the file to UTF-8 or give --encoding")


def test_an_unknown_encoding_is_refused(runner, tmp_path):
    (tmp_path / "in.csv").write_text(HEADER + "\n")
    result = batch(runner, tmp_path / "in.csv", "--encoding", "klingon")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: unknown encoding 'klingon' (e.g. utf-8, cp1252, latin-1, utf-16)"


# --- one patient, one row out ----------------------------------------------------------


def test_rows_sharing_a_patient_id_are_one_patient(tmp_path):
    data = (HEADER + "\n1001,Soma 350 mg qid,,,34\n1002,Tylenol,,,40\n1001,Xanax 0.5 mg bid,pregnancy,,34\n"
            "1003,Norco,,,50\n1003,Norco,,,51\n").encode()
    _, patients, findings = screen_file(tmp_path, data)
    assert patients["patient_id"].tolist() == ["1001", "1002", "1003"]
    merged = patients.set_index("patient_id")
    assert merged.loc["1001", "line"] == "2"
    assert merged.loc["1001", "status"] == "findings"
    # The interaction between the two rows is found, and the pregnancy of the second row counts.
    titles = set(findings.loc[findings["patient_id"] == "1001", "title"])
    assert titles == {"carisoprodol + alprazolam", "carisoprodol + Pregnancy"}
    assert merged.loc["1003", "error"] == "rows on lines 5, 6 give different ages (50, 51)"


def test_the_same_patient_far_apart_is_merged_by_reading_again(tmp_path):
    rows = [HEADER] + [f"{i},gabapentin,,,40" for i in range(3000)] + ["7,Soma 350 mg qid,,,40"]
    src = tmp_path / "in.csv"
    src.write_text("\n".join(rows) + "\n")
    out = Writer(str(tmp_path / "p.csv"), TableFormat.CSV)
    summary = run(str(src), patients_out=out, findings_out=None, block_bytes=4096)
    patients = patients_of(tmp_path / "p.csv")
    assert len(patients) == 3000 and patients["patient_id"].is_unique
    assert patients.set_index("patient_id").loc["7", "findings"] != "0"
    assert any("read again grouped by patient id" in note for note in summary.notes)


def test_the_same_patient_far_apart_on_stdout_is_refused_not_split(runner, tmp_path):
    rows = [HEADER] + [f"{i},gabapentin,,,40" for i in range(80000)] + ["7,Soma 350 mg qid,,,40"]
    (tmp_path / "in.csv").write_text("\n".join(rows) + "\n")
    result = batch(runner, tmp_path / "in.csv", "--block-size", "1", "--patients", tmp_path / "p.csv")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(
        "Error: a patient id is on line 9 and line 80,002, in different blocks of the input: with stdin or stdout")
    assert not (tmp_path / "p.csv").exists()


def test_a_patient_over_the_entry_cap_is_invalid_with_the_reason(tmp_path):
    huge = ";".join(f"drug{i}" for i in range(MAX_ENTRIES + 1))
    data = (HEADER + f"\n1,{huge},,,\n2,Soma;Xanax,,,\n").encode()
    _, patients, _ = screen_file(tmp_path, data)
    assert patients["error"].tolist() == [
        f"{MAX_ENTRIES + 1:,} entries: at most {MAX_ENTRIES:,} are screened for one patient "
        "(check the export for a broken row)", ""]
    assert patients["status"].tolist() == ["invalid", "findings"]


def test_the_entry_cap_counts_the_entries_that_would_be_screened(tmp_path, monkeypatch):
    # Empty pieces (a trailing ';') are no entries, and the same entry twice in a cell counts once, as it
    # does in two rows of one patient. (A cap of 3 keeps the test quick: every entry under it is screened.)
    import screener.batch.layouts as layouts

    monkeypatch.setattr(layouts, "MAX_ENTRIES", 3)
    data = (HEADER + "\n1,Soma;Xanax;Norco;;,,,\n2,Soma;Xanax;Norco;Soma;Xanax;Norco,,,\n"
                     "3,Soma;Xanax;Norco;Valium,,,\n").encode()
    _, patients, _ = screen_file(tmp_path, data)
    assert patients["error"].tolist() == ["", "", "4 entries: at most 3 are screened for one patient (check the "
                                                  "export for a broken row)"]


def test_the_entry_cap_of_the_items_layout_counts_distinct_entries_as_a_cell_does(tmp_path, monkeypatch):
    # A value given in two rows, and an empty value, are no more entries than in one cell; an age is none.
    import screener.batch.layouts as layouts

    monkeypatch.setattr(layouts, "MAX_ENTRIES", 3)
    rows = ["1,medication,Soma", "1,medication,Xanax", "1,medication, Soma ", "1,medication,", "1,age,40",
            "1,condition,pregnancy",
            "2,medication,Soma", "2,medication,Xanax", "2,condition,pregnancy", "2,allergy,Xanax"]
    data = ("patient_id,kind,value\n" + "\n".join(rows) + "\n").encode()
    _, patients, _ = screen_file(tmp_path, data)
    assert patients["error"].tolist() == ["", "4 entries: at most 3 are screened for one patient (check the "
                                              "export for a broken row)"]
    assert patients["status"].tolist()[0] == "findings"


# --- columns and outputs -----------------------------------------------------------------


def test_columns_that_are_not_read_are_named(runner, tmp_path):
    (tmp_path / "in.csv").write_text("patient_id,medications,Dx,Notes,age\n1,Soma,F41.1,x,30\n")
    result = batch(runner, tmp_path / "in.csv", "-o", tmp_path / "f.csv")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == (
        f"screener batch: {tmp_path / 'in.csv'}: column(s) 'Dx', 'Notes' not read (map one to patient_id, "
        "medications, conditions, allergies or age with --column NAME=HEADER)")


def test_an_output_name_no_format_writes_is_refused(runner, tmp_path):
    (tmp_path / "in.csv").write_text(HEADER + "\n1,Soma,,,\n")
    result = batch(runner, tmp_path / "in.csv", "-o", tmp_path / "out.xlsx")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: cannot write '{tmp_path / 'out.xlsx'}': '.xlsx' is not an output format; name the file with one "
        "of .csv, .csv.gz, .parquet, .pq, .jsonl, .ndjson, .jsonl.gz, .ndjson.gz (or give --output-format)")
    assert not (tmp_path / "out.xlsx").exists()


# --- the property: the ids out are the ids in, each once ------------------------------

MEDS = ["Soma 350 mg qid", "Xanax 0.5 mg bid", "Norco", "Tylenol", "gabapentin", "lisinopril", "xyzzymab"]


@st.composite
def hostile_file(draw) -> tuple[bytes, set[str]]:
    """A patients-layout CSV with the troubles real exports have, and the ids it holds."""
    n = draw(st.integers(1, 25))
    ids = [f"P{draw(st.integers(0, 30))}" for _ in range(n)]  # repeats allowed: rows of one patient
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [HEADER]
    previous = "none"
    for k, pid in enumerate(ids):
        meds = draw(st.lists(st.sampled_from(MEDS), max_size=4))
        trouble = draw(st.sampled_from(["none", "quoted-newline", "quoted-comma", "escaped-quote", "stray-quote",
                                        "unclosed-quote", "bad-byte", "blank-line", "trailing", "huge", "few-fields",
                                        "quoted-id", "bad-byte-quoted-newline", "unclosed-quote-fragments"]))
        cell = ";".join(meds)
        if trouble == "quoted-id":  # an id holding the delimiter, quoted as a spreadsheet writes it
            pid = ids[k] = f"{pid}, J"
            pid = f'"{pid}"'
        if trouble == "quoted-newline":
            cell = '"' + "\n".join(meds or ["Soma"]) + '"'
        elif trouble == "quoted-comma":
            cell = '"Soma, 350 mg"'
        elif trouble == "escaped-quote":
            cell = '"Soma ""Prosoma"" 500mg"'
        elif trouble == "stray-quote":
            cell = 'So"ma'
        elif trouble == "unclosed-quote":
            cell = '"Soma'
        elif trouble == "bad-byte":
            cell = "Caf\udcff"
        elif trouble == "bad-byte-quoted-newline":  # a cp1252 export's Alt+Enter cell read as UTF-8
            cell = '"Soma 350 mg\udce9\nXanax 0.5 mg"'
        elif trouble == "unclosed-quote-fragments":
            # The rest of the broken cell on lines of its own, some with quotes, long enough to cross blocks.
            cell = '"Soma\n' + "\n".join(draw(st.lists(st.sampled_from(
                ["continued note", 'note: patient says "it hurts"', "take with food", ""]), min_size=1,
                max_size=12)))
        elif trouble == "huge":
            cell = ";".join(f"Tylenol {n}" for n in range(MAX_ENTRIES + 5))
        row = f"{pid},{cell},,,{draw(st.sampled_from(['', '34', '70']))}"
        if trouble == "trailing":
            row += ",,,"
        if trouble == "few-fields" and not previous.startswith("unclosed-quote"):
            # (After a quote that never closes, a short row cannot be told from the rest of
            # the broken cell: it is read as such, and named in the broken row's error.)
            row = f"{pid},{cell}"
        previous = trouble
        lines.append(row)
        if trouble == "blank-line":
            lines.append("")
    data = newline.join(lines) + newline
    return data.encode("utf-8", "surrogateescape"), {pid.strip() for pid in ids}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=hostile_file(), block_bytes=st.sampled_from([64, 256, 1024, 1 << 20]))
def test_every_patient_id_in_comes_out_exactly_once(tmp_path, case, block_bytes):
    data, ids = case
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    out = tmp_path / "p.csv"
    run(str(src), patients_out=Writer(str(out), TableFormat.CSV), findings_out=None, block_bytes=block_bytes)
    got = pd.read_csv(io.BytesIO(out.read_bytes()), dtype=str, keep_default_na=False)["patient_id"].tolist()
    assert sorted(got) == sorted(ids)


def patients_in_one_and_two_processes(tmp_path: Path, rows: list[str]) -> pd.DataFrame:
    """The patients output of these lines read 4 KB at a time, checked to be the same bytes in one process
    as in two worker processes."""
    src = tmp_path / "in.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"p{jobs}.csv"
        run(str(src), patients_out=Writer(str(out), TableFormat.CSV), findings_out=None, block_bytes=4096, jobs=jobs)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    return patients_of(tmp_path / "p1.csv")


def test_worker_processes_cut_blocks_at_record_ends_too(tmp_path):
    # Multi-line cells everywhere, blocks of 4 KB: a block boundary inside a quoted line
    # break would split a patient, so the worker processes must read what one process reads.
    rows = [HEADER] + [f'{i},"Soma 350 mg qid\nXanax 0.5 mg bid",,,{20 + i % 60}' if i % 3 else f"{i},Norco,,,40"
                       for i in range(3000)]
    patients = patients_in_one_and_two_processes(tmp_path, rows)
    assert len(patients) == 3000 and set(patients["error"]) == {""}


def test_claims_of_one_member_in_two_files_are_one_patient_named_by_its_first_file(runner, tmp_path):
    (tmp_path / "jan.csv").write_text("patient_id,drug,fill_date,days_supply\n1,Soma 350 mg,2024-01-01,30\n")
    (tmp_path / "feb.csv").write_text("patient_id,drug,fill_date,days_supply\n2,Norco,2024-01-01,10\n"
                                      "1,Xanax 0.5 mg,2024-01-05,30\n")
    result = batch(runner, tmp_path / "*.csv", "--patients", tmp_path / "p.out", "--output-format", "csv",
                   "-o", tmp_path / "f.out")
    assert result.exit_code == 0, result.stderr
    patients = patients_of(tmp_path / "p.out")
    assert dict(zip(patients["patient_id"], zip(patients["line"], patients["source_file"]))) == {
        # A glob is read in sorted order (feb.csv, then jan.csv): member 1's first row read is on line 3
        # of feb.csv, and the overlap of its two files' claims is found.
        "1": ("3", str(tmp_path / "feb.csv")),
        "2": ("2", str(tmp_path / "feb.csv"))}
    findings = patients_of(tmp_path / "f.out")
    assert set(findings.loc[findings["kind"] == "drug-drug", "source_file"]) == {str(tmp_path / "feb.csv")}


# --- found by a new user's trial ---------------------------------------------------------


def test_a_ten_digit_ndc_in_claims_is_refused_not_padded(runner, tmp_path):
    (tmp_path / "c.csv").write_text("patient_id,ndc,fill_date,days_supply,quantity\n"
                                    "N1,0037200101,2024-01-01,30,90\nN2,37200101,2024-01-01,30,90\n")
    result = batch(runner, tmp_path / "c.csv", "--patients", tmp_path / "p.csv", "-o", tmp_path / "f.csv")
    assert result.exit_code == 0, result.stderr
    patients = patients_of(tmp_path / "p.csv").set_index("patient_id")
    # Ten digits: a 10-digit NDC in one of three layouts, or an 11-digit one that lost a zero.
    assert patients.loc["N1", "status"] == "incomplete"
    assert "has 10 digits without hyphens" in patients.loc["N1", "unrecognized"]
    # Eight digits can only be a number that lost its leading zeros: padded to 11 (00037-2001-01).
    assert patients.loc["N2", "unrecognized"] == ""


def test_a_corrupt_parquet_input_is_one_line_and_exit_2(runner, tmp_path):
    (tmp_path / "f.parquet").write_text("garbage")
    result = batch(runner, tmp_path / "f.parquet", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {tmp_path / 'f.parquet'}: cannot be read as Parquet: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(("mapping", "message"), [
    ("foo=bar", "--column foo=bar: 'foo' is not a column of the patients layout (its columns: patient_id, "
                "medications, conditions, allergies, age)"),
    ("conditions=Dx", "--column conditions=Dx: the header has no column 'Dx' (it has: patient_id, medications)"),
])
def test_a_column_mapping_that_maps_nothing_is_refused(runner, tmp_path, mapping, message):
    (tmp_path / "in.csv").write_text("patient_id,medications\n1,Soma\n")
    result = batch(runner, tmp_path / "in.csv", "--column", mapping, "-o", tmp_path / "f.csv")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"


def test_an_unreadable_row_keeps_its_quoted_id_and_joins_its_patient(tmp_path):
    # The id holds the delimiter ("Smith, J"): read as CSV reads it, not cut at the comma.
    data = (f'{HEADER}\n"Smith, J",soma 350 mg tid,,,30\n"Smith, J",oxycodone 10 mg,,,30,extra\n'
            '"Doe, A",x\xffy,,,40\n').encode("utf-8", "surrogateescape")
    _, patients, _ = screen_file(tmp_path, data.replace(b"\xc3\xbf", b"\xff"))
    assert patients["patient_id"].tolist() == ["Smith, J", "Doe, A"]
    assert patients["status"].tolist() == ["invalid", "invalid"]
    assert patients["error"].iloc[0] == "line 3: 6 fields, expected 5 (patient 'Smith, J' is on lines 2, 3)"


def test_a_bad_byte_in_a_cell_of_two_lines_makes_one_invalid_row(tmp_path):
    # What a cp1252 export with an Alt+Enter cell gives when read as UTF-8: the second line is the same cell.
    for cell in (b'"Soma 350 mg tid \xe9\nXanax 0.5 mg"', b'"Soma 350 mg tid\nXanax \xe9 0.5 mg"'):
        _, patients, _ = screen_file(tmp_path, HEADER.encode() + b"\nP1," + cell + b",,,30\nP2,oxycodone,,,40\n")
        assert patients["patient_id"].tolist() == ["P1", "P2"]
        assert patients["error"].iloc[0].startswith("line 2: not valid UTF-8 (byte 0xe9 ")


def test_the_rest_of_a_broken_cell_across_blocks_is_never_a_patient(tmp_path):
    # A quote never closed, then 60 lines of its cell: blocks of 4 KB end inside them, one process or two.
    rows = [HEADER] + [f"P{i},soma 350 mg tid; oxycodone 10 mg,,,40" for i in range(200)]
    rows += ['PB,"soma 350 mg tid', 'note: patient says "it hurts"'] + [f"continued note line {k}" for k in range(60)]
    rows += [f"Q{k},xanax,,,40" for k in range(200)]
    patients = patients_in_one_and_two_processes(tmp_path, rows)
    assert len(patients) == 401
    (error,) = patients.loc[patients["status"] == "invalid", "error"]
    assert error == ("line 202: broken quoting: a quote is not closed where it should be (lines 203-263 read as "
                     "the rest of its cell: too few fields to be rows)")


def test_a_small_file_with_a_quote_never_closed_is_one_block(runner, tmp_path):
    # Its rows of one patient meet, so even with stdout there is no "split patient" to refuse.
    (tmp_path / "in.csv").write_text(f'{HEADER}\n2,xanax,,,40\n"2,soma\n3,ok,,,\n', encoding="utf-8")
    result = batch(runner, tmp_path / "in.csv", "-o", "-", "--patients", tmp_path / "p.csv")
    assert result.exit_code == 0, result.stderr
    patients = patients_of(tmp_path / "p.csv")
    assert patients["patient_id"].tolist() == ["2", "3"]
    assert patients["error"].iloc[0] == "line 3: broken quoting: a quote is not closed (patient '2' is on lines 2, 3)"


def test_a_cell_longer_than_the_csv_modules_default_limit_is_read_record_by_record(tmp_path):
    # 140,000 characters in one quoted cell with a line break; a bad byte elsewhere makes the block be read
    # record by record, where Python's csv refused fields over 131,072 characters.
    long_cell = '"Soma 350 mg ' + "x" * 140_000 + '\nnote: take with food, water, milk, juice, or tea"'
    data = f"{HEADER}\nP1,{long_cell},,,30\nP2,oxycodone,,,40\nP3,x\udcffy,,,40\n".encode("utf-8", "surrogateescape")
    _, patients, _ = screen_file(tmp_path, data)
    assert patients["patient_id"].tolist() == ["P1", "P2", "P3"]
    # One record, read whole: too long an entry to screen (its own reason), never "broken quoting".
    assert patients["error"].iloc[0].startswith("medication entry 'Soma 350 mg xxx")
    assert patients["error"].iloc[0].endswith("is 140012 characters long; the limit is 200")
    assert patients["error"].iloc[1] == "" and patients["error"].iloc[2].startswith("line 5: not valid UTF-8")


def test_a_carriage_return_without_a_line_feed_reads_the_same_beside_any_other_row(tmp_path):
    # The fast parser ended a row at a bare CR and the record-by-record reader did not, so patient 2 was there
    # or not depending on an unrelated row with a bad byte. Now the line is one invalid row that says why.
    body = f"{HEADER}\n1,soma,,,30\r2,xanax,,,40\n\n3,ibuprofen,,,50\n".encode()
    _, alone, _ = screen_file(tmp_path, body)
    _, beside, _ = screen_file(tmp_path, body + b"4,b\xffad,,,20\n")
    assert alone.equals(beside.iloc[:2])
    assert alone["patient_id"].tolist() == ["1", "3"]
    assert alone["error"].iloc[0] == ("line 2: 9 fields, expected 5: the line holds a carriage return (CR) without a "
                                      "line feed, so it may hold more than one row; save the file with LF or CRLF "
                                      "line ends")


@pytest.mark.parametrize("data, message", [
    (b"\n\npatient_id,medications\n1,soma\n", "Error: line 1 is blank: the header (the column names) must be the "
                                             "first line; remove the blank lines before it\n"),
    (b"patient_id,medications\r1,soma\r", "Error: the header line holds a carriage return (CR) without a line feed: "
                                         "the file's lines end in CR only (Excel's 'CSV (Macintosh)'); save it as "
                                         "'CSV UTF-8', or with LF or CRLF line ends\n"),
])
def test_a_header_that_is_not_the_first_line_or_ends_in_cr_is_one_line_and_exit_2(runner, tmp_path, data, message):
    (tmp_path / "in.csv").write_bytes(data)
    result = batch(runner, tmp_path / "in.csv", "-o", tmp_path / "f.csv")
    assert result.exit_code == 2
    assert result.stderr == message
