#!/usr/bin/env python
"""Benchmark `screener batch`: wall time against pandas.read_csv, peak memory, throughput.

Every figure is measured in this run on this machine and printed as a ratio
against a baseline measured alongside it; nothing here asserts.

    python benchmarks/bench_batch.py                  # 1M + 10M patients (~3-5 min, ~1 GB in /tmp)
    python benchmarks/bench_batch.py --patients 200000 --big 0   # a quick look
    python benchmarks/bench_batch.py --json bench.json
    python benchmarks/bench_batch.py --mix realistic --big 0   # charts unlike the synthetic mix
    python benchmarks/bench_batch.py --mix harsh --big 0       # a harsher, independently written mix

Sections
  1. Wall time   1M patients, one row each (seeded synthetic population: everyday
                 medicines the knowledge base does not classify, so every screen
                 is incomplete; ~3% on carisoprodol, brands and dose text, a
                 little noise). `screener batch FILE -o findings.csv` against
                 `python -c "import pandas as pd; pd.read_csv(FILE)"`, runs
                 interleaved, median of --runs. Target: ratio <= 2.0. Also with
                 --patients (one row per patient written as well).
  2. Memory      peak RSS of `screener batch` on a 10M-patient file (generated
                 to --dir, streaming): of the largest process (target: < 1 GiB),
                 and PSS summed over the parent and its worker processes.
  3. Throughput  patients/s on one core (pinned with taskset when available), on
                 two (the default: two worker processes) and with the dask engine
                 (LocalCluster of 2 processes).

A temporary SCREENER_CACHE_DIR is used; the user's cache is never touched. The
screener package is byte-compiled first, as pip does when it installs a wheel
(with PYTHONDONTWRITEBYTECODE set, an editable install would otherwise compile
every module on every run; pandas, the baseline, is installed compiled).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0
TARGET_RSS_MB = 1024
PY = sys.executable
SCREENER = [PY, "-m", "screener"]


def _rss_run(cmd: list[str], env) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command, measured in a fresh wrapper process."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "w = time.perf_counter() - t; "
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([PY, "-c", code, *cmd], capture_output=True, text=True, env=env, check=True).stdout.split()
    if out[2] != "0":
        raise SystemExit(f"command failed ({out[2]}): {' '.join(cmd)}")
    return float(out[0]), int(out[1]) / 1024


def _tree_memory_run(cmd: list[str], env) -> tuple[float, float]:
    """(wall seconds, peak PSS in MB summed over the command and its child processes), sampled
    every 50 ms from /proc (0 where /proc/PID/smaps_rollup is not available). PSS shares pages
    between processes that map them, so forked workers are not counted twice."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak = 0
    while proc.poll() is None:
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        total = 0
        for pid in [proc.pid, *map(int, children)]:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as status:
                    total += sum(int(line.split()[1]) for line in status if line.startswith("Pss:"))
            except OSError:
                pass
        peak = max(peak, total)
        time.sleep(0.05)
    if proc.returncode:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - started, peak / 1024


REALISTIC = Path(__file__).resolve().parents[1] / "tests" / "data" / "realistic_patients.csv"
FREQUENCIES = ["daily", "bid", "tid", "qid", "q6h prn", "qhs", "1 tab po tid prn", "prn", "twice daily", ""]


def _write_floor(outputs: list[Path], scratch: Path) -> float:
    """Seconds pyarrow takes to write the rows of `outputs` again as CSV (read back first, not timed): a
    floor under any run that writes them, however fast its screening."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    took = 0.0
    for path in outputs:
        options = pacsv.ConvertOptions(column_types={}, strings_can_be_null=False, auto_dict_encode=False)
        table = pacsv.read_csv(path, convert_options=options)
        table = table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))
        started = time.perf_counter()
        pacsv.write_csv(table, scratch)
        took += time.perf_counter() - started
        scratch.unlink()
    return took


def _generate(path: Path, n: int, seed: int, mix: str = "synthetic") -> float:
    """Write `n` patients to `path`: the package's synthetic population, or the realistic mix."""
    started = time.perf_counter()
    if mix == "realistic":
        _write_realistic(path, n, seed)
        return time.perf_counter() - started
    if mix == "harsh":
        _write_harsh(path, n, seed)
        return time.perf_counter() - started
    subprocess.run([PY, "-c", "import sys, screener; from screener.batch.synthetic import write_patients_csv; "
                    "write_patients_csv(sys.argv[1], screener.load_knowledge().index, int(sys.argv[2]), "
                    "seed=int(sys.argv[3]))", str(path), str(n), str(seed)], check=True)
    return time.perf_counter() - started


def _write_realistic(path: Path, n: int, seed: int) -> None:
    """A population unlike the synthetic one: every patient is a hand-written chart of
    tests/data/realistic_patients.csv (polypharmacy, free-text sigs, ICD codes and names,
    allergies), its entries shuffled and its frequencies varied, so that there are many
    distinct texts; cells are quoted as a spreadsheet writes them and one in fifty holds a
    line break between two medications (Alt+Enter)."""
    import csv
    import random

    rng = random.Random(seed)
    with open(REALISTIC, newline="", encoding="utf-8") as handle:
        charts = list(csv.DictReader(handle))
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["patient_id", "medications", "conditions", "allergies", "age"])
        for i in range(n):
            chart = charts[rng.randrange(len(charts))]
            meds = [m.strip() for m in chart["medications"].split(";") if m.strip()]
            rng.shuffle(meds)
            varied = []
            for med in meds:
                if rng.random() < 0.3:
                    words = med.split()
                    med = " ".join(w for w in words if w.lower() not in {"daily", "bid", "tid", "qid", "prn", "qhs"})
                    med = f"{med} {rng.choice(FREQUENCIES)}".strip()
                varied.append(med)
            cell = ("\n" if rng.random() < 0.02 else "; ").join(varied)
            writer.writerow([f"M{i:09d}", cell, chart["conditions"], chart["allergies"], chart["age"]])


DATA = Path(__file__).resolve().parents[1] / "data"
EVERYDAY_DRUGS = ["lisinopril 10 mg daily", "metformin 500 mg bid", "atorvastatin 40 mg qhs", "amlodipine 5 mg",
                  "levothyroxine 50 mcg daily", "losartan 50 mg", "sertraline 100 mg", "metoprolol succinate 25 mg",
                  "furosemide 40 mg qam", "pantoprazole 40 mg", "tamsulosin 0.4 mg", "montelukast 10 mg hs",
                  "warfarin 5 mg as directed", "insulin glargine 20 units hs", "prednisone 10 mg taper"]
"""Common outpatient drugs the knowledge base does not classify (FDA substances: 'not covered')."""
SIGS = ["", "daily", "bid", "tid", "qid", "q6h prn", "qhs", "1-2 tabs q4-6h prn", "1/2 tab hs", "every 8 hours",
        "2 tabs tid x 7 days", "as directed", "po q8h", "one tablet three times a day"]
"""Sig text, including ranges, fractions and durations the reader must read exactly or declare unread."""
OTHER_TEXT = ["carisoprodal", "xyzzymab", "pain pill", "muscle relaxer", "ES tylenol 2 tabs"]
"""Entries that are misspelt or too vague to place (unrecognised, with suggestions)."""
ALLERGY_TEXT = ["NKDA", "penicillin", "sulfa", "latex", "codeine (itching)", "shellfish", "PCN, sulfa", ""]


def _write_harsh(path: Path, n: int, seed: int) -> None:
    """A harsher population, written apart from the package's synthetic generator and from the
    realistic charts: names and synonyms straight from data/concepts.csv with random strengths and
    sig text, product NDCs of those drugs from the bundled NDC directory, everyday drugs the
    knowledge base does not classify, misspellings, valid ICD-10-CM codes drawn from the whole code
    set (most outside every rule), condition names, allergy lists, and quoted cells with line
    breaks. About a quarter of the patients come out incomplete."""
    import csv
    import gzip
    import random

    rng = random.Random(seed)
    with open(DATA / "concepts.csv", newline="", encoding="utf-8") as handle:
        concepts = {row["id"]: row for row in csv.DictReader(handle)}
    # Drugs and products whose every ingredient reaches a concept some interaction rule names: what
    # the knowledge base screens (a name it knows only for an allergy rule would be 'not covered').
    parents: dict[str, set[str]] = {}
    ingredients: dict[str, set[str]] = {}
    with open(DATA / "relations.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["relation"] == "is_a":
                parents.setdefault(row["subject"], set()).add(row["object"])
            elif row["relation"] == "has_ingredient":
                ingredients.setdefault(row["subject"], set()).add(row["object"])
    with open(DATA / "interactions.csv", newline="", encoding="utf-8") as handle:
        ruled = {row[k] for row in csv.DictReader(handle) for k in ("a", "b", "c") if row[k]}

    def reaches(cid: str, seen=()) -> bool:
        return cid in ruled or any(reaches(p, (*seen, cid)) for p in parents.get(cid, ()) if p not in seen)

    screened = [row for cid, row in concepts.items() if row["kind"] in ("drug", "product")
                and all(reaches(x) for x in ingredients.get(cid, {cid}))]
    names = [name for row in screened for name in [row["name"], *row["synonyms"].split("|")] if name]
    # Prescriptions are concentrated on a few drugs: a Zipf-like weight by a shuffled rank.
    rng.shuffle(names)
    weights = [1 / (rank + 1) for rank in range(len(names))]
    known = {row["name"].lower() for row in screened if row["kind"] == "drug"}
    with gzip.open(DATA / "ndc" / "products.tsv.gz", "rt", encoding="utf-8") as handle:
        ndcs = [fields[0] for fields in (line.split("\t") for line in handle) if fields[2].lower() in known]
    with gzip.open(DATA / "icd10cm" / "codes.tsv.gz", "rt", encoding="utf-8") as handle:
        codes = [line.split("\t", 1)[0] for line in handle]
    with open(DATA / "condition_names.csv", newline="", encoding="utf-8") as handle:
        condition_names = [row["name"] for row in csv.DictReader(handle)]

    def medication() -> str:
        roll = rng.random()
        if roll < 0.08:  # a product NDC, 5-4 with a hyphen, as a med-rec export prints it
            code = rng.choice(ndcs)
            return f"NDC {code[:5]}-{code[5:]}"
        name = rng.choices(names, weights)[0]
        strength = rng.choice(["", "", "5 mg", "10 mg", "250 mg", "350 mg", "500 mg", "0.5 mg", "2 mg"])
        return " ".join(x for x in (name, strength, rng.choice(SIGS)) if x)

    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["patient_id", "medications", "conditions", "allergies", "age"])
        for i in range(n):
            meds = [medication() for _ in range(rng.choice([1, 2, 2, 3, 3, 4, 5, 7]))]
            if rng.random() < 0.12:
                meds.append(rng.choice(EVERYDAY_DRUGS))
            if rng.random() < 0.03:
                meds.append(rng.choice(OTHER_TEXT))
            rng.shuffle(meds)
            conditions = ([rng.choice(codes) if rng.random() < 0.6 else rng.choice(condition_names)
                           for _ in range(rng.choice([0, 0, 1, 2, 3]))])
            separator = "\n" if rng.random() < 0.03 else "; "
            age = "" if rng.random() < 0.1 else str(rng.randint(16, 97))
            writer.writerow([f"H{i:09d}", separator.join(meds), "; ".join(conditions), rng.choice(ALLERGY_TEXT), age])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1_000_000, help="patients in the wall-time file")
    parser.add_argument("--big", type=int, default=10_000_000, help="patients in the memory file (0: skip)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the generated files go")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--mix", choices=["synthetic", "realistic", "harsh"], default="synthetic",
                        help="population: the package's synthetic one, charts resampled from "
                             "tests/data/realistic_patients.csv, or the harsh generator (see _write_harsh)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="screener-bench-", dir=args.dir))
    env = dict(os.environ, SCREENER_CACHE_DIR=str(work / "cache"))
    results: dict = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        src = work / "patients.csv"
        gen = _generate(src, args.patients, args.seed, args.mix)
        size = src.stat().st_size / 1e6
        print(f"generated {args.patients:,} patients, {args.mix} mix ({size:,.0f} MB) in {gen:.1f} s: {src}")
        subprocess.run([PY, "-c", "import compileall, os, screener; "
                        "compileall.compile_dir(os.path.dirname(screener.__file__), quiet=1)"], check=True)
        subprocess.run([*SCREENER, "check", "Soma"], env=env, capture_output=True)  # warm the knowledge cache

        # 1. wall time, interleaved
        baseline = [PY, "-c", f"import pandas as pd; pd.read_csv({str(src)!r})"]
        batch = [*SCREENER, "batch", str(src), "-o", str(work / "findings.csv")]
        with_patients = [*batch, "--patients", str(work / "patients-out.csv")]
        times: dict[str, list] = {"read_csv": [], "batch": [], "batch+patients": []}
        peaks: dict[str, list] = {k: [] for k in times}
        for _ in range(args.runs):
            for name, cmd in (("read_csv", baseline), ("batch", batch), ("batch+patients", with_patients)):
                wall, rss = _rss_run(cmd, env)
                times[name].append(wall)
                peaks[name].append(rss)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\n1. wall time, {args.patients:,} patients, median of {args.runs}")
        for name in times:
            ratio = med[name] / med["read_csv"]
            print(f"   {name:16s} {med[name]:6.2f} s   {ratio:4.2f}x read_csv   peak {max(peaks[name]):6.0f} MB")
        ratio = med["batch"] / med["read_csv"]
        print(f"   ratio batch / read_csv = {ratio:.2f} (target <= {TARGET_RATIO}): "
              f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")
        with open(work / "findings.csv", "rb") as handle:
            findings = sum(1 for _ in handle) - 1
        print(f"   {findings:,} findings written")
        floor = _write_floor([work / "findings.csv", work / "patients-out.csv"], work / "floor.csv")
        out_mb = sum((work / name).stat().st_size for name in ("findings.csv", "patients-out.csv")) / 1e6
        print(f"   the outputs are {out_mb:,.0f} MB ({out_mb / size:.1f}x the input); writing them alone takes "
              f"{floor:.2f} s ({floor / med['read_csv']:.2f}x read_csv): pyarrow.csv.write_csv of the same rows")
        results["wall"] = {"patients": args.patients, "mb": size, "seconds": med, "ratio": ratio,
                           "peak_mb": {k: max(v) for k, v in peaks.items()}, "findings": findings,
                           "output_mb": out_mb, "write_floor_seconds": floor}

        # 3. throughput
        one_core = (["taskset", "-c", "0"] if shutil.which("taskset") else []) + [*batch, "--jobs", "1"]
        wall1, _ = _rss_run(one_core, env)
        wall_jobs = med["batch"]
        dask = [*batch, "--engine", "dask", "--workers", "2", "--block-size", "8"]
        wall2, rss2 = _rss_run(dask, env)
        print(f"\n3. throughput, {args.patients:,} patients (wall time of the whole command)")
        print(f"   one core ({'taskset -c 0, ' if one_core[0] == 'taskset' else ''}--jobs 1): "
              f"{args.patients / wall1:12,.0f} patients/s ({wall1:.2f} s)")
        print(f"   two worker processes (default): {args.patients / wall_jobs:12,.0f} patients/s ({wall_jobs:.2f} s, "
              f"{wall1 / wall_jobs:.2f}x one core)")
        print(f"   two processes (dask): {args.patients / wall2:12,.0f} patients/s ({wall2:.2f} s, "
              f"{wall1 / wall2:.2f}x one core; client peak {rss2:.0f} MB)")
        results["throughput"] = {"one_core": args.patients / wall1, "two_workers": args.patients / wall_jobs,
                                 "dask_2": args.patients / wall2}

        # 2. memory on the big file
        if args.big:
            big = work / "big.csv"
            gen = _generate(big, args.big, args.seed + 1, args.mix)
            print(f"\n2. memory, {args.big:,} patients ({big.stat().st_size / 1e6:,.0f} MB, generated in {gen:.0f} s)")
            command = [*SCREENER, "batch", str(big), "-o", str(work / "big-findings.csv"),
                       "--patients", str(work / "big-patients.csv")]
            wall, rss = _rss_run(command, env)
            print(f"   peak RSS of the largest process {rss:,.0f} MB (target < {TARGET_RSS_MB} MB): "
                  f"{'met' if rss < TARGET_RSS_MB else 'NOT met'}; {wall:.1f} s, {args.big / wall:,.0f} patients/s")
            _, pss = _tree_memory_run(command, env)
            print(f"   peak PSS summed over the parent and its workers {pss:,.0f} MB"
                  + ("" if pss else " (not measured: no /proc/PID/smaps_rollup)"))
            results["memory"] = {"patients": args.big, "peak_mb": rss, "tree_pss_mb": pss, "seconds": wall}
            big.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
