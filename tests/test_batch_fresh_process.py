"""`screener batch` as users run it: a fresh process, where pandas is not imported yet.

The one-row-per-patient path keeps pandas out of the process (`batch.lazy_pandas`);
every other path must import it when it needs it. These tests run the real
command in a new interpreter for each layout, input and output format, and
compare the bytes with the same run made in this (pandas-importing) process.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from screener.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Runs the CLI in this interpreter's environment and reports, at exit, whether pandas was imported.
RUNNER = ("import atexit, runpy, sys; "
          "atexit.register(lambda: sys.stderr.write('PANDAS=%s\\n' % ('pandas' in sys.modules))); "
          "sys.argv = ['screener'] + sys.argv[1:]; runpy.run_module('screener', run_name='__main__')")


def fresh(*args) -> tuple[int, str]:
    """(exit code, stderr) of `screener ARGS` in a new interpreter."""
    done = subprocess.run([sys.executable, "-c", RUNNER, *map(str, args)], capture_output=True, text=True)
    return done.returncode, done.stderr


def in_process(*args) -> int:
    return CliRunner().invoke(cli, [str(a) for a in args]).exit_code


def test_patients_csv_never_imports_pandas_and_writes_the_same_bytes(tmp_path):
    code, err = fresh("batch", EXAMPLES / "patients.csv", "-o", tmp_path / "f.csv", "--patients", tmp_path / "p.csv")
    assert code == 0, err
    assert "PANDAS=False" in err
    assert in_process("batch", EXAMPLES / "patients.csv", "-o", tmp_path / "f2.csv",
                      "--patients", tmp_path / "p2.csv") == 0
    assert (tmp_path / "f.csv").read_bytes() == (tmp_path / "f2.csv").read_bytes()
    assert (tmp_path / "p.csv").read_bytes() == (tmp_path / "p2.csv").read_bytes()


@pytest.mark.parametrize("source, output", [
    ("items.csv", "f.csv"),
    ("claims.csv", "f.csv"),
    ("patients.csv", "f.jsonl"),
    ("patients.csv", "f.parquet"),
    ("patients.csv.gz", "f.csv"),
    ("patients.parquet", "f.csv"),
    ("items.parquet", "f.jsonl"),
])
def test_every_layout_and_format_runs_in_a_fresh_process_as_in_this_one(tmp_path, source, output):
    shutil.copy(EXAMPLES / "patients.csv", tmp_path / "patients.csv")
    with open(EXAMPLES / "patients.csv", "rb") as raw, gzip.open(tmp_path / "patients.csv.gz", "wb") as out:
        out.write(raw.read())
    import pandas as pd

    pd.read_csv(EXAMPLES / "patients.csv", dtype=str).to_parquet(tmp_path / "patients.parquet")
    pd.read_csv(EXAMPLES / "items.csv", dtype=str).to_parquet(tmp_path / "items.parquet")
    src = tmp_path / source if (tmp_path / source).exists() else EXAMPLES / source
    a, b = tmp_path / ("a-" + output), tmp_path / ("b-" + output)
    code, err = fresh("batch", src, "-o", a, "--patients", tmp_path / "pa.csv")
    assert code == 0, err
    assert in_process("batch", src, "-o", b, "--patients", tmp_path / "pb.csv") == 0
    if output.endswith(".parquet"):
        assert pd.read_parquet(a).equals(pd.read_parquet(b))
    else:
        assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "pa.csv").read_bytes() == (tmp_path / "pb.csv").read_bytes()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_claims_over_several_blocks_group_in_a_fresh_process_as_in_this_one(tmp_path, jobs):
    # 2.4 MB of claims read 1 MB at a time: grouped by member across blocks (pandas is imported only then).
    rows = ["patient_id,drug,fill_date,days_supply,quantity,strength"]
    for i in range(40_000):
        rows.append(f"m{i % 9000},{('carisoprodol', 'oxycodone', 'alprazolam', 'lisinopril')[i % 4]},"
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d},30,{60 + i % 120},{('350', '10', '1', '10')[i % 4]}")
    src = tmp_path / "claims.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, err = fresh("batch", src, "--block-size", "1", "--jobs", jobs, "-o", tmp_path / "a.csv",
                      "--patients", tmp_path / "pa.csv")
    assert code == 0, err
    assert "PANDAS=True" in err
    assert in_process("batch", src, "--block-size", "1", "--jobs", "1", "-o", tmp_path / "b.csv",
                      "--patients", tmp_path / "pb.csv") == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "pa.csv").read_bytes() == (tmp_path / "pb.csv").read_bytes()


def test_worker_processes_write_the_same_bytes_as_one_process(tmp_path, kb):
    from screener.batch.synthetic import write_patients_csv

    write_patients_csv(tmp_path / "pop.csv", kb.index, 6_000, seed=5)
    runs = {}
    for jobs in ("1", "2"):
        code, err = fresh("batch", tmp_path / "pop.csv", "--block-size", "1", "--jobs", jobs,
                          "-o", tmp_path / f"f{jobs}.csv", "--patients", tmp_path / f"p{jobs}.csv")
        assert code == 0, err
        assert "PANDAS=False" in err
        runs[jobs] = ((tmp_path / f"f{jobs}.csv").read_bytes(), (tmp_path / f"p{jobs}.csv").read_bytes())
    assert runs["1"] == runs["2"]
    assert runs["1"][0].count(b"\n") > 10  # the population has findings


@pytest.mark.skipif(not sys.platform.startswith("linux") or __import__("platform").libc_ver()[0] != "glibc",
                    reason="the allocator setting is for glibc")
def test_batch_processes_keep_freed_memory_on_glibc():
    code = "from screener.batch.process_setup import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_the_pandas_deferral_still_finds_pyarrows_shim():
    """`lazy_pandas` relies on pyarrow's private pandas shim; if a pyarrow release moves it, the
    deferral silently turns itself off (batch stays correct, but ~0.3 s slower per run): fail here."""
    from screener.batch import lazy_pandas

    assert lazy_pandas._shim() is not None, "pyarrow.lib._pandas_api moved: review screener.batch.lazy_pandas"
