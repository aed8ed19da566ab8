#!/usr/bin/env python
"""How many realistic patients screen complete, and which findings a change of knowledge gains or loses.

    python benchmarks/completeness.py                       # the figures for the current checkout
    python benchmarks/completeness.py --json after.json     # and every patient's status and findings
    python benchmarks/completeness.py --compare before.json after.json

The patients are `tests/data/realistic_patients.csv` (invented, with ordinary
comorbidities and allergies written as real exports write them; see its .md).
Each is screened as `screener check` would (`screener.screen`). To measure a
change, run the script under the old checkout (`PYTHONPATH=<old>/src`) and the
new one with `--json`, then `--compare` the two files: the share complete before
and after, and per patient the findings (kind, severity, title) gained or lost
and the inputs no longer (or newly) unrecognised.

Nothing here asserts: it measures and prints.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATIENTS = ROOT / "tests" / "data" / "realistic_patients.csv"


def split(cell: str) -> list[str]:
    """A batch list cell ("a; b") as entries."""
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def screen_all(path: Path) -> dict[str, dict]:
    """patient id → status, findings and unrecognised inputs, screened by the screener on sys.path."""
    import screener

    knowledge = screener.load_knowledge()
    out = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            age = float(row["age"]) if row.get("age") else None
            report = knowledge.screen(split(row["medications"]), split(row["conditions"]), split(row["allergies"]),
                                      age)
            out[row["patient_id"]] = {
                "status": report.status.value,
                "findings": sorted(f"{f.kind.value} {f.severity.value}: {f.title}" for f in report.findings),
                "unrecognized": sorted(f"{u.field} {u.input!r}: {u.reason}" for u in report.unrecognized),
                "noted": sorted(f"{n.field} {n.input!r}" for n in getattr(report, "noted", ())),
            }
    return out


def summary(results: dict[str, dict]) -> str:
    statuses = Counter(r["status"] for r in results.values())
    n = len(results)
    unrec = Counter(u.split(":", 1)[0].split(" ", 1)[0] for r in results.values() for u in r["unrecognized"])
    parts = ", ".join(f"{k} {v} ({v / n:.0%})" for k, v in sorted(statuses.items()))
    # Medications the knowledge does not cover make a screen incomplete on purpose (issue 12); this
    # counts the patients whose conditions and allergies were all recognised.
    facts = sum(1 for r in results.values()
                if not any(u.split(" ", 1)[0] in ("condition", "allergy") for u in r["unrecognized"]))
    return (f"{n} patients: {parts}; complete (not incomplete) {n - statuses['incomplete']} "
            f"({(n - statuses['incomplete']) / n:.0%}); every condition and allergy recognised {facts} "
            f"({facts / n:.0%}); unrecognised inputs by field: {dict(sorted(unrec.items()))}")


def compare(before: dict[str, dict], after: dict[str, dict]) -> str:
    lines = ["before: " + summary(before), "after:  " + summary(after), ""]
    gained = lost = 0
    for pid in before:
        b, a = before[pid], after.get(pid)
        if a is None:
            lines.append(f"{pid}: missing after")
            continue
        plus = sorted(set(a["findings"]) - set(b["findings"]))
        minus = sorted(set(b["findings"]) - set(a["findings"]))
        # By field and input: a reworded reason is not a change of what was recognised.
        was, now = ({u.split(": ", 1)[0]: u for u in r["unrecognized"]} for r in (b, a))
        fixed = [was[k] for k in sorted(set(was) - set(now))]
        new = [now[k] for k in sorted(set(now) - set(was))]
        gained += len(plus)
        lost += len(minus)
        if plus or minus or fixed or new or a["status"] != b["status"]:
            lines.append(f"{pid}: {b['status']} → {a['status']}")
            lines += [f"  + {f}" for f in plus] + [f"  - {f}" for f in minus]
            lines += [f"  now recognised: {u}" for u in fixed] + [f"  newly unrecognised: {u}" for u in new]
    lines.insert(2, f"findings gained {gained}, lost {lost} (a changed title or severity counts as one of each)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=Path, default=PATIENTS)
    parser.add_argument("--json", type=Path, help="also write every patient's result here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text(encoding="utf-8")) for p in args.compare)
        print(compare(before, after))
        return
    results = screen_all(args.patients)
    print(summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
