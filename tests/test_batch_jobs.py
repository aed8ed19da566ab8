"""`screener batch --jobs N`: blocks screened in worker processes give the same outputs, in order."""

from __future__ import annotations

import csv
import io

import pytest

import screener
from screener.batch.synthetic import write_patients_csv
from screener.cli import cli


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    """About 3 MB of patients: several 1 MB blocks."""
    path = tmp_path_factory.mktemp("jobs") / "patients.csv"
    write_patients_csv(path, screener.load_knowledge().index, 40_000, seed=7)
    return path


def run(runner, path, folder, *extra):
    folder.mkdir()
    findings, patients = folder / "f.csv", folder / "p.csv"
    result = runner.invoke(cli, ["batch", str(path), "-o", str(findings), "--patients", str(patients),
                                 "--block-size", "1", *extra])
    assert result.exit_code == 0, result.output
    return findings.read_bytes(), patients.read_bytes(), result.stderr


def test_two_workers_give_byte_identical_outputs(runner, population, tmp_path):
    one = run(runner, population, tmp_path / "one", "--jobs", "1")
    two = run(runner, population, tmp_path / "two", "--jobs", "2")
    assert one[0] == two[0] and one[1] == two[1]
    assert one[0].count(b"\n") > 100  # the population has findings
    # The summary counts the same patients and findings (only the time differs).
    assert one[2].split(";")[:2] == two[2].split(";")[:2]


def test_jobs_is_for_the_pandas_engine(runner, population):
    result = runner.invoke(cli, ["batch", str(population), "--engine", "dask", "--jobs", "2"])
    assert result.exit_code == 2
    assert "--jobs is for the pandas engine" in result.stderr


def test_a_line_longer_than_a_block_and_no_final_newline_read_the_same_in_workers(runner, tmp_path):
    # Workers get file positions (readers.FileSlice): block ends must fall on line ends
    # even when one line is longer than a block, and the last line may lack its newline.
    lines = ["patient_id,medications,notes"]
    for i in range(12_000):
        note = "x" * 1_500_000 if i == 5_000 else "n"
        lines.append(f"p{i},{'Soma 350 mg qid;Xanax' if i % 7 == 0 else 'ibuprofen'},{note}")
    lines.append("p-bad,\"unclosed,n")  # a bad row keeps its line number too
    lines.append("p-last,Soma 500 mg tid,n")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    one = run(runner, path, tmp_path / "one", "--jobs", "1")
    two = run(runner, path, tmp_path / "two", "--jobs", "2")
    assert one[0] == two[0] and one[1] == two[1]
    patients = list(csv.reader(io.StringIO(two[1].decode())))
    assert len(patients) == 1 + 12_002
    assert patients[-2][:3] == ["p-bad", "12002", "invalid"]
    assert patients[-1][:3] == ["p-last", "12003", "findings"]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet", "csv.gz"])
def test_every_patients_format_is_the_same_from_workers(runner, population, tmp_path, suffix):
    # Workers encode CSV patients themselves and send other formats as tables: both must
    # give what one process writes.
    outputs = {}
    for jobs in ("1", "2"):
        folder = tmp_path / jobs
        folder.mkdir()
        result = runner.invoke(cli, ["batch", str(population), "-o", str(folder / "f.csv"), "--patients",
                                     str(folder / f"p.{suffix}"), "--block-size", "1", "--jobs", jobs])
        assert result.exit_code == 0, result.output
        if suffix == "parquet":
            import pyarrow.parquet as pq

            outputs[jobs] = pq.read_table(folder / f"p.{suffix}").to_pylist()
        else:
            import gzip

            raw = (folder / f"p.{suffix}").read_bytes()
            outputs[jobs] = gzip.decompress(raw) if suffix.endswith(".gz") else raw
    assert outputs["1"] == outputs["2"]
    assert len(outputs["1"]) > 1000


@pytest.mark.parametrize("layout", ["claims", "items"])
def test_claims_and_items_from_workers_are_the_same_bytes(runner, tmp_path, layout):
    # Blocks of whole patients (grouped by patient id) are screened in the workers.
    drugs = ["Soma 350 mg", "oxycodone 10 mg", "alprazolam 1 mg", "lisinopril 10 mg", "gabapentin 300 mg", "xyzzymab"]
    if layout == "claims":
        lines = ["patient_id,drug,fill_date,days_supply,quantity"]
        lines += [f"m{i % 9_000},{drugs[i % 6]},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{(7, 30, 90)[i % 3]},{30 + i % 90}"
                  for i in range(60_000)]
    else:
        lines = ["patient_id,kind,value"]
        lines += [f"p{i % 12_000},{'condition,pregnancy' if i % 11 == 0 else 'medication,' + drugs[(i * 7) % 6]}"
                  for i in range(60_000)]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one = run(runner, path, tmp_path / "one", "--jobs", "1")
    two = run(runner, path, tmp_path / "two", "--jobs", "2")
    assert one[0] == two[0] and one[1] == two[1]
    assert one[0].count(b"\n") > 100


def test_a_first_record_longer_than_the_first_block_keeps_every_line_number_in_workers(runner, tmp_path):
    # With workers the first block is a quarter of a block: a first record longer than that (a quoted note
    # of many lines) must not make later blocks count their lines from the wrong place.
    # (With 4 MB blocks the first is 1 MB; the record's end is found in the first 2 MB read past it.)
    note = "\n".join(["a line of a long note"] * 70_000)  # 1.5 MB
    lines = ["patient_id,medications,notes", f'p0,Soma 350 mg qid;Xanax,"{note}"']
    lines += [f"p{i},{'Soma 350 mg qid;Xanax' if i % 7 == 0 else 'ibuprofen'},n" for i in range(1, 250_000)]
    path = tmp_path / "long-first.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one = run(runner, path, tmp_path / "one", "--jobs", "1", "--block-size", "4")
    two = run(runner, path, tmp_path / "two", "--jobs", "2", "--block-size", "4")
    assert one[0] == two[0] and one[1] == two[1]
    last = list(csv.DictReader(io.StringIO(two[1].decode())))[-1]
    assert last["patient_id"] == "p249999" and int(last["line"]) == 70_001 + 249_999


@pytest.mark.parametrize("pool_seconds, pooled", [(0.0, True), (1e9, False)])
def test_a_smaller_input_goes_to_workers_when_its_first_block_says_so(runner, population, tmp_path, monkeypatch,
                                                                       pool_seconds, pooled):
    # Under four blocks (3 MB in 1 MB blocks), the default --jobs times the first block: the workers start
    # only when the rest would take AUTO_POOL_SECONDS or more in one process. Either way, the same bytes.
    started = _pool_watched(monkeypatch, pool_seconds)
    one = run(runner, population, tmp_path / "one", "--jobs", "1")
    auto = run(runner, population, tmp_path / "auto")
    assert started == ([2] if pooled else [])
    assert one[0] == auto[0] and one[1] == auto[1]


def _pool_watched(monkeypatch, pool_seconds: float = 0.0) -> list[int]:
    """With two cores and AUTO_POOL_SECONDS set to `pool_seconds` (0: the default --jobs starts the workers for
    any input of two or three blocks); returns the worker counts of the pools started."""
    import screener.batch as batch

    started: list[int] = []
    in_pool = batch._in_pool
    monkeypatch.setattr(batch, "_in_pool", lambda *a: started.append(a[2]) or in_pool(*a))
    monkeypatch.setattr(batch, "AUTO_POOL_SECONDS", pool_seconds)
    monkeypatch.setattr(batch.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)  # two cores, here too
    return started


def test_the_default_jobs_cuts_blocks_as_one_process_does(runner, tmp_path, monkeypatch):
    # Rows of one patient are merged within a block; 600 KB apart they share the first 1 MB block, as with
    # --jobs 1, so a run to stdout merges them rather than stopping (a quarter-block first block split them).
    started = _pool_watched(monkeypatch)
    filler = [f"p{i},ibuprofen 200 mg" for i in range(130_000)]
    lines = ["patient_id,medications", "p-dup,Soma 350 mg qid", *filler[:30_000], "p-dup,Xanax 0.5 mg",
             *filler[30_000:]]
    path = tmp_path / "dup.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert 2 << 20 < path.stat().st_size < 4 << 20  # two or three blocks of 1 MB
    one = runner.invoke(cli, ["batch", str(path), "-o", "-", "--block-size", "1", "--jobs", "1"])
    auto = runner.invoke(cli, ["batch", str(path), "-o", "-", "--block-size", "1"])
    assert started == [2]
    assert (one.exit_code, auto.exit_code) == (0, 0)
    assert one.stdout == auto.stdout
    # The two rows were one patient: the interaction between them is found.
    assert any(line.startswith('"p-dup"') and "carisoprodol + alprazolam" in line for line in auto.stdout.splitlines())


def test_a_gzip_input_of_two_blocks_stays_in_one_process(runner, population, tmp_path, monkeypatch):
    # Its size on disk is not the size read, so the first block cannot tell how long the rest would take.
    import gzip

    started = _pool_watched(monkeypatch)
    path = tmp_path / "patients.csv.gz"
    path.write_bytes(gzip.compress(population.read_bytes(), compresslevel=1))
    assert path.stat().st_size > 1 << 20  # over one 1 MB block, compressed
    one = run(runner, path, tmp_path / "one", "--jobs", "1")
    auto = run(runner, path, tmp_path / "auto")
    assert started == []
    assert one[0] == auto[0] and one[1] == auto[1]


STOP_WITH_HALF_A_RESULT = """
import multiprocessing, os, struct, sys, time
from concurrent.futures import ProcessPoolExecutor
from screener.batch import _stop

pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
pool.submit(time.sleep, 0).result()  # the workers and the thread that reads their results run
# What a worker stopped in the middle of sending its result leaves: a header saying 1,000 bytes, then 3.
os.write(pool._result_queue._writer.fileno(), struct.pack("!i", 1000) + b"abc")
time.sleep(0.5)  # the reading thread is now waiting for the other 997
_stop(pool)
print("stopped", flush=True)
"""


def test_stopping_the_workers_while_a_result_is_half_sent_lets_the_program_end(tmp_path):
    # The pool's thread that reads results would wait for the rest for ever, and the interpreter would hang
    # at exit joining it (seen after a run that read its input again).
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", STOP_WITH_HALF_A_RESULT], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stopped\n"
