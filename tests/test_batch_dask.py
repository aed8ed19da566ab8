"""`--engine dask` on a LocalCluster (2 worker processes) writes what the pandas engine writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.cli import cli

pytest.importorskip("dask.distributed")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_dask_engine_equals_pandas_engine(runner, tmp_path, kb):
    from screener.batch.synthetic import write_patients_csv

    src = tmp_path / "pop.csv"
    write_patients_csv(src, kb.index, 8000, seed=21, carisoprodol=0.2, caution=0.3, unknown=0.05)
    # Damage a few lines: the workers must report them as the pandas engine does.
    lines = src.read_bytes().split(b"\n")
    lines[100] = b'P-bad,"Soma;Xanax,45'
    lines[5000] = b"P-bad2,caf\xe9,,,20"
    src.write_bytes(b"\n".join(lines))
    inputs = [(src, ["--block-size", "1"]), (EXAMPLES / "claims.csv", []), (EXAMPLES / "items.csv", [])]
    for path, extra in inputs:
        out = {}
        for engine in ("pandas", "dask"):
            options = ["--engine", engine, *(["--workers", "2"] if engine == "dask" else [])]
            result = runner.invoke(cli, ["batch", str(path), "-o", str(tmp_path / f"f-{engine}.csv"),
                                         "--patients", str(tmp_path / f"p-{engine}.csv"), *options, *extra],
                                   catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
            out[engine] = ((tmp_path / f"f-{engine}.csv").read_bytes(), (tmp_path / f"p-{engine}.csv").read_bytes())
        assert out["dask"] == out["pandas"], path
        if path == src:
            assert b"broken quoting" in out["dask"][1] and b"not valid UTF-8" in out["dask"][1]
