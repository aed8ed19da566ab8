"""The batch codebook forgets its finding rows between blocks once it holds many (memory stays bounded on a
population whose every patient differs), and what is written does not change when it does."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from screener.batch import engine, run
from screener.batch.writers import TableFormat, Writer

MEDS = ["Soma 350 mg qid", "Norco 10/325 q6h", "Xanax 1 mg tid", "oxycodone 10 mg q4h", "gabapentin 300 mg tid",
        "Tylenol 500 mg 2 tabs q6h", "methadone 10 mg bid", "Suboxone 8/2 SL daily", "xyzzymab", "lisinopril"]
CONDITIONS = ["", "pregnancy", "OSA on CPAP", "COPD", "no OSA", "cirrhosis"]


def _population(n: int) -> list[tuple]:
    """Patients whose lists mostly differ, so that every block makes new finding rows."""
    out = []
    for k in range(n):
        meds = [MEDS[(k * 7 + j * 3) % len(MEDS)] for j in range(1 + k % 4)]
        out.append((meds, [CONDITIONS[k % len(CONDITIONS)]], ["codeine"] if k % 5 == 0 else [], str(20 + k % 70)))
    return out


def write_population(path, population) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "medications", "conditions", "allergies", "age"])
        for n, (meds, conditions, allergies, age) in enumerate(population):
            writer.writerow([f"p{n}", ";".join(meds), ";".join(conditions), ";".join(allergies), age])


def _outputs(tmp_path, name: str, source, layout_args: dict) -> tuple[str, str]:
    f, p = tmp_path / f"{name}-f.csv", tmp_path / f"{name}-p.csv"
    run(str(source), findings_out=Writer(str(f), TableFormat.CSV), patients_out=Writer(str(p), TableFormat.CSV),
        jobs=1, **layout_args)
    return f.read_text(encoding="utf-8"), p.read_text(encoding="utf-8")


@pytest.mark.parametrize("layout", ["patients", "claims"])
def test_forgetting_rows_between_blocks_changes_no_output(tmp_path, monkeypatch, layout):
    source = tmp_path / "in.csv"
    if layout == "patients":
        write_population(source, _population(300))
    else:
        strengths = ["350", "10 mg", "1 mg", "10", "300", "500", "10", ""]
        # Every third claim is a member's only one (walked once per distinct claim, cached across blocks).
        rows = [{"patient_id": f"s{k}" if k % 3 == 0 else f"m{k % 40}", "drug": MEDS[k % 8].split(" ")[0],
                 "strength": strengths[k % 8],
                 "fill_date": f"2026-0{1 + k % 6}-{1 + k % 27:02d}", "days_supply": 30, "quantity": 90}
                for k in range(400)]
        pd.DataFrame(rows).to_csv(source, index=False)
    args = {"block_bytes": 400}
    kept = _outputs(tmp_path, "kept", source, args)
    calls = []
    original = engine.Codebook.new_block

    def counted(self):
        before = self.generation
        original(self)
        calls.append(self.generation - before)

    monkeypatch.setattr(engine, "ROW_LIMIT", 1)
    monkeypatch.setattr(engine, "READING_LIMIT", 1)
    monkeypatch.setattr(engine.Codebook, "new_block", counted)
    forgot = _outputs(tmp_path, "forgot", source, args)
    assert sum(calls) > 1  # the rows were forgotten between blocks, more than once
    assert forgot == kept


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_block_written_in_pieces_is_the_same_bytes(tmp_path, monkeypatch, jobs):
    # A block's CSV is encoded CSV_CHUNK_ROWS rows at a time (its findings may be 45 times its input), and a
    # worker's comes back in a file past SPOOL_BYTES: the header once, every row once, in order, formula-like
    # cells neutralised in every piece.
    import screener.batch as batch
    from screener.batch import writers

    source = tmp_path / "in.csv"
    write_population(source, [*_population(300), (["=HYPERLINK(x)", "Soma"], [], [], "40")])

    def outputs(name):
        f, p = tmp_path / f"{name}-f.csv", tmp_path / f"{name}-p.csv"
        run(str(source), findings_out=Writer(str(f), TableFormat.CSV), patients_out=Writer(str(p), TableFormat.CSV),
            jobs=jobs, block_bytes=4_000)
        return f.read_bytes(), p.read_bytes()

    whole = outputs("whole")
    monkeypatch.setattr(writers, "CSV_CHUNK_ROWS", 7)
    monkeypatch.setattr(batch, "SPOOL_BYTES", 0)  # and every worker's block comes back through a file
    pieces = outputs("pieces")
    assert pieces == whole
    assert not list(tmp_path.glob(".screener-blocks-*"))  # the folder of those files is gone
    assert whole[0].count(b"\n") > 300 and whole[1].count(b'"patient_id"') == 1
    assert b"\"'=HYPERLINK(x) (medication" in whole[1]
