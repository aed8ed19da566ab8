"""`screener batch --jobs N`: blocks screened in worker processes give the same outputs, in order."""

from __future__ import annotations

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
