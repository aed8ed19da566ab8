#!/usr/bin/env python
"""Benchmark `screener batch` on pharmacy claims: wall time against pandas.read_csv of the same file.

Every figure is measured in this run on this machine and printed as a ratio against
a baseline measured alongside it; nothing here asserts.

    python benchmarks/bench_claims.py                       # 1M claims (~250k members)
    python benchmarks/bench_claims.py --claims 200000 --runs 1

The file is a payer-style export (seeded): members with 1 to 8 fills over a year of
common drugs — carisoprodol, opioids, benzodiazepines, gabapentinoids, and many
medicines with no cautions — named by drug text, by NDC or both, with days supply,
quantity and strength, so that supply windows, concurrent use (the PQA COB measure),
daily doses and MME are all computed. Target (issue 14): ratio <= 3.0.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

TARGET_RATIO = 3.0
PY = sys.executable

# (drug text, NDC or "", strength, daily units): what a payer's file holds for a fill.
DRUGS = [
    ("SOMA 350 MG TABLET", "0037-2001-01", "350", 3), ("CARISOPRODOL 350 MG TAB", "", "350 mg", 4),
    ("OXYCODONE HCL 10 MG TABLET", "", "10", 4), ("HYDROCODONE-ACETAMINOPHEN 10-325", "", "", 4),
    ("ALPRAZOLAM 1 MG TABLET", "", "1", 2), ("DIAZEPAM 5 MG TABLET", "", "5", 2),
    ("GABAPENTIN 300 MG CAPSULE", "", "300", 3), ("TRAMADOL HCL 50 MG TABLET", "", "50", 4),
    ("LISINOPRIL 10 MG TABLET", "", "10", 1), ("ATORVASTATIN 40 MG TABLET", "", "40", 1),
    ("METFORMIN HCL 500 MG TABLET", "", "500", 2), ("AMLODIPINE 5 MG TABLET", "", "5", 1),
    ("SERTRALINE 50 MG TABLET", "", "50", 1), ("OMEPRAZOLE 20 MG CAPSULE", "", "20", 1),
    ("LEVOTHYROXINE 50 MCG TABLET", "", "", 1), ("ZOLPIDEM 10 MG TABLET", "", "10", 1),
]
WEIGHTS = [2, 1, 3, 3, 3, 2, 4, 3, 10, 10, 8, 8, 6, 6, 6, 2]


def generate(path: Path, claims: int, seed: int) -> int:
    """Write about `claims` claim rows; returns the number of members."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    members = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["MemberID", "NDC", "Drug Name", "Fill Date", "Days Supply", "Qty", "Strength"])
        written = 0
        while written < claims:
            members += 1
            for _ in range(rng.randint(1, 8)):
                text, ndc, strength, per_day = rng.choices(DRUGS, WEIGHTS)[0]
                days = rng.choice([7, 14, 30, 30, 30, 90])
                fill = start + timedelta(days=rng.randrange(365))
                out.writerow([f"M{members:08d}", ndc, text if not ndc or rng.random() < 0.5 else "",
                              fill.isoformat(), days, days * per_day, strength])
                written += 1
    return members


def timed(cmd: list[str], env) -> float:
    code = ("import subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "print(time.perf_counter() - t, r.returncode)")
    out = subprocess.run([PY, "-c", code, *cmd], capture_output=True, text=True, env=env, check=True).stdout.split()
    if out[1] != "0":
        raise SystemExit(f"command failed ({out[1]}): {' '.join(cmd)}")
    return float(out[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="screener-bench-claims-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, SCREENER_CACHE_DIR=str(work / "cache"))
        src = work / "claims.csv"
        members = generate(src, args.claims, args.seed)
        print(f"generated {args.claims:,} claims of {members:,} members ({src.stat().st_size / 1e6:.0f} MB)")
        subprocess.run([PY, "-m", "screener", "check", "Soma"], env=env, capture_output=True)  # warm the cache
        columns = ["--column", "patient_id=MemberID", "--column", "ndc=NDC", "--column", "drug=Drug Name",
                   "--column", "fill_date=Fill Date", "--column", "days_supply=Days Supply",
                   "--column", "quantity=Qty", "--column", "strength=Strength"]
        baseline = [PY, "-c", f"import pandas as pd; pd.read_csv({str(src)!r})"]
        batch = [PY, "-m", "screener", "batch", str(src), *columns, "-o", str(work / "f.csv"),
                 "--patients", str(work / "p.csv")]
        times: dict[str, list[float]] = {"read_csv": [], "batch": []}
        for _ in range(args.runs):
            times["read_csv"].append(timed(baseline, env))
            times["batch"].append(timed(batch, env))
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["batch"] / med["read_csv"]
        print(f"read_csv {med['read_csv']:.2f} s; batch (findings and patients) {med['batch']:.2f} s, "
              f"{members / med['batch']:,.0f} members/s")
        print(f"ratio batch / read_csv = {ratio:.2f} (target <= {TARGET_RATIO}): "
              f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")


if __name__ == "__main__":
    main()
