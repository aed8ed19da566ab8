#!/usr/bin/env python
"""Benchmark the `screener check` path: CLI latency, imports, library screen, cache load.

Every figure is reported as a ratio against a baseline measured in the same
run on the same machine (never against an absolute threshold), so results
from a laptop and a CI runner can be compared. Nothing here asserts; it only
measures and prints.

    python benchmarks/bench_check.py                 # ~30 s on a laptop-class machine
    python benchmarks/bench_check.py --runs 51 --json bench.json

Sections
  1. CLI latency   `screener check <5 meds> -c pregnancy -c cirrhosis`, warm
                   cache, vs `python -c "import click"` and `python -c pass`,
                   runs interleaved so machine noise hits every command alike.
                   Also one cold run (empty cache dir: compile + write cache).
  2. Imports       `python -X importtime -m screener check ...` once: are
                   networkx / pandas imported, and the top cumulative imports;
                   plus the phases of one check in a fresh process (import
                   cli, import knowledge, cache read, screen, render).
  3. Library       µs per `k.screen(...)` (timeit, median of repeats): memo
                   warm, memo cleared before each call (first-sight parsing),
                   and 1,000 varied generated patients.
  4. Cache load    `screener.load_knowledge()` in a fresh process (import +
                   load minus import), in-process breakdown, cache file size.

A temporary SCREENER_CACHE_DIR is used throughout; the user's cache is never
touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

HEAVY_MEDS = ["Soma 350 mg qid", "Xanax", "Norco", "gabapentin", "omeprazole"]
TYPICAL_MEDS = ["Soma 350 mg qid", "ibuprofen", "omeprazole", "acetaminophen", "naproxen"]
CONDITIONS = ["pregnancy", "cirrhosis"]
CHECK_ARGS = ["check", *HEAVY_MEDS, "-c", CONDITIONS[0], "-c", CONDITIONS[1]]
VOCABULARY_MEDS = ["Soma 350 mg qid", "Xanax", "lisinopril 10 mg daily", "Lipitor 20 mg", "metformin 500 mg bid"]
"""Three names only the FDA vocabulary knows: the check then also maps and searches the vocabulary."""
VOCABULARY_ARGS = ["check", *VOCABULARY_MEDS, "-c", CONDITIONS[0], "-c", CONDITIONS[1]]
NDC_MEDS = ["0037-2001-01 1 tab qid", "Xanax", "Norco", "gabapentin", "omeprazole"]
"""The heavy list with Soma given by its NDC: the check then also opens and searches the NDC Directory."""
NDC_ARGS = ["check", *NDC_MEDS, "-c", CONDITIONS[0], "-c", CONDITIONS[1]]

TARGET_CLI_RATIO = 2.0  # issue target: screener check <= 2.0x `python -c "import click"`
TARGET_SCREEN_US = 20.0  # issue target: <= 20 µs per library screen (memo warm)

PY = sys.executable


# --- small helpers ------------------------------------------------------------


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def summary(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "p90": p90(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def run_timed(argv: list[str], env: dict) -> tuple[float, int]:
    """Wall time (s) of one subprocess, output discarded, and its exit code."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, proc.returncode


def interleaved(commands: dict[str, list[str]], runs: int, env: dict) -> dict[str, dict]:
    """Run each command `runs` times, interleaved (A,B,C,B,C,A,...), after one discarded round.

    The starting command rotates each round so no command is always first
    after a pause; every round still runs every command once.
    """
    names = list(commands)
    for name in names:  # warm-up round: page cache, .pyc, disk cache of the index
        run_timed(commands[name], env)
    times: dict[str, list[float]] = {name: [] for name in names}
    codes: dict[str, set[int]] = {name: set() for name in names}
    for r in range(runs):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            seconds, code = run_timed(commands[name], env)
            times[name].append(seconds)
            codes[name].add(code)
    return {name: {**summary(times[name]), "exit_codes": sorted(codes[name]), "argv": commands[name]}
            for name in names}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f}"


def table(rows: list[list[str]], header: list[str], left_last: bool = False) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)), line]
    for row in rows:
        out.append("  ".join(str(c).rjust(w) if 0 < i < len(row) - left_last else str(c).ljust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    return "\n".join(out)


def section(title: str) -> None:
    print()
    print(title)
    print("=" * len(title))


# --- 1. CLI latency -----------------------------------------------------------


def console_scripts() -> dict[str, list[str]]:
    """The `screener` console script(s) to time, labelled.

    `direct`: the script installed next to this interpreter (what pip wrote).
    `PATH wrapper`: the first other `screener` on PATH, if any (e.g. a pyenv
    shim, a bash script that re-dispatches to the direct script). Under pyenv
    the interpreter's own bin dir is prepended to PATH for this process, so a
    user's shell typically hits the shim, not the direct script: both are
    reported.
    """
    found: dict[str, list[str]] = {}
    scripts_dir = Path(PY).parent
    direct = scripts_dir / ("screener.exe" if os.name == "nt" else "screener")
    if direct.exists():
        found["console script (direct)"] = [str(direct)]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder or ".") / direct.name
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        if direct.exists() and candidate.resolve() == direct.resolve():
            continue
        found["console script (PATH wrapper)"] = [str(candidate)]
        break
    return found


def bench_cli(runs: int, env: dict, cache_dir: Path) -> dict:
    section("1. CLI latency: screener check (5 medications, 2 conditions)")
    scripts = console_scripts()
    for label, argv in scripts.items():
        first = Path(argv[0]).read_text(errors="replace").splitlines()[:1]
        print(f"  {label}: {argv[0]}  [{first[0] if first else ''}]")
    if not scripts:
        print("  console script `screener` not found; timing `python -m screener` only")

    # Sanity: the command really screens (exit 1 = findings at/above moderate is expected).
    probe = subprocess.run([PY, "-m", "screener", *CHECK_ARGS], env=env, capture_output=True, text=True)
    print(f"  check output: exit {probe.returncode}; stderr: {probe.stderr.strip()[:100]}")

    # Cold: empty cache dir, so this run reads the CSVs, compiles (networkx) and writes the cache.
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    cold, cold_code = run_timed([PY, "-m", "screener", *CHECK_ARGS], env)
    print(f"  cold run (cache cleared, python -m screener): {cold * 1e3:.1f} ms, exit {cold_code}")

    commands = {
        "python -c pass": [PY, "-c", "pass"],
        'python -c "import click"': [PY, "-c", "import click"],
        "python -m screener check": [PY, "-m", "screener", *CHECK_ARGS],
        "python -m screener check (3 FDA-vocabulary names)": [PY, "-m", "screener", *VOCABULARY_ARGS],
        "python -m screener check (one NDC)": [PY, "-m", "screener", *NDC_ARGS],
    }
    for label, argv in scripts.items():
        commands[f"{label} check"] = [*argv, *CHECK_ARGS]
    print(f"  timing {len(commands)} commands x {runs} interleaved runs (+1 warm-up round) ...")
    results = interleaved(commands, runs, env)

    base = results['python -c "import click"']["median"]
    bare = results["python -c pass"]["median"]
    rows = []
    for name, r in results.items():
        rows.append([name, ms(r["median"]), ms(r["p90"]), ms(r["min"]),
                     f"{r['median'] / base:6.2f}x", f"{r['median'] / bare:6.2f}x",
                     ms(r["median"] - bare), ",".join(map(str, r["exit_codes"]))])
    rows.append(["cold: python -m screener check (once)", ms(cold), "", "",
                 f"{cold / base:6.2f}x", f"{cold / bare:6.2f}x", ms(cold - bare), str(cold_code)])
    print()
    print(table(rows, ["command", "median ms", "p90 ms", "min ms", "vs click", "vs pass", "beyond pass ms", "exit"]))
    print()
    click_cost = base - bare
    for name in [n for n in results if n not in ("python -c pass", 'python -c "import click"')]:
        r = results[name]
        ratio = r["median"] / base
        verdict = "within" if ratio <= TARGET_CLI_RATIO else "ABOVE"
        print(f"  {name}: {ratio:.2f}x import-click (target <= {TARGET_CLI_RATIO}x: {verdict}); "
              f"{(r['median'] - base) * 1e3:.1f} ms beyond import-click; "
              f"startup-free ratio (cmd - pass)/(click - pass) = {(r['median'] - bare) / click_cost:.2f}x")
    print("  (the startup-free ratio removes interpreter start-up, incl. any site-packages .pth work,")
    print("   which inflates both sides of the headline ratio equally and so flatters it)")
    if "console script (PATH wrapper) check" in results:
        print("  (the PATH wrapper's extra time over the direct script is the wrapper itself, e.g. a pyenv")
        print("   shim running bash + `pyenv exec`; it is outside screener but it is what a shell user waits for)")
    return {"commands": results, "cold": {"seconds": cold, "exit_code": cold_code},
            "ratio_vs_import_click": {n: results[n]["median"] / base for n in results},
            "ratio_vs_pass": {n: results[n]["median"] / bare for n in results},
            "startup_free_ratio_vs_import_click": {n: (results[n]["median"] - bare) / (base - bare) for n in results},
            "target_ratio": TARGET_CLI_RATIO}


# --- 2. imports on the check path -----------------------------------------------


def bench_imports(env: dict) -> dict:
    section("2. Imports on the check path (python -X importtime -m screener check ..., warm cache)")
    proc = subprocess.run([PY, "-X", "importtime", "-m", "screener", *CHECK_ARGS], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    entries = []
    for ln in lines:
        parts = ln[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        raw = parts[2]
        depth = (len(raw) - len(raw.lstrip(" ")) - 1) // 2
        entries.append({"name": raw.strip(), "self_us": int(parts[0]), "cumulative_us": int(parts[1]),
                        "depth": depth})
    names = {e["name"] for e in entries}
    heavy = {}
    for lib in ("networkx", "pandas", "numpy"):
        heavy[lib] = sorted(n for n in names if n == lib or n.startswith(lib + "."))
    total_top = sum(e["cumulative_us"] for e in entries if e["depth"] == 0)
    own = sum(e["cumulative_us"] for e in entries if e["depth"] == 0 and e["name"].split(".")[0] == "screener")
    site = sum(e["cumulative_us"] for e in entries if e["depth"] == 0 and e["name"] == "site")
    for lib, mods in heavy.items():
        print(f"  {lib:9s} imported: {'YES (' + str(len(mods)) + ' modules)' if mods else 'no'}")
    print(f"  {len(entries)} modules imported; top-level import total {total_top / 1e3:.1f} ms "
          f"(screener.* top-level entries incl. their deps such as click: {own / 1e3:.1f} ms; "
          f"site: {site / 1e3:.1f} ms). -X importtime itself inflates these.")
    top_cum = sorted(entries, key=lambda e: e["cumulative_us"], reverse=True)[:8]
    top_self = sorted(entries, key=lambda e: e["self_us"], reverse=True)[:8]
    print()
    print("  top 8 by cumulative time:")
    print(table([[e["name"], f"{e['cumulative_us'] / 1e3:.1f}", f"{e['self_us'] / 1e3:.1f}"] for e in top_cum],
                ["module", "cumul ms", "self ms"]).replace("\n", "\n  ").join(["  ", ""]))
    print()
    print("  top 8 by self time (where the time actually goes):")
    print(table([[e["name"], f"{e['self_us'] / 1e3:.1f}", f"{e['cumulative_us'] / 1e3:.1f}"] for e in top_self],
                ["module", "self ms", "cumul ms"]).replace("\n", "\n  ").join(["  ", ""]))
    phases = bench_phases(env, runs=7)
    return {"phases_ms": phases, "heavy_imported": heavy, "module_count": len(entries), "top_level_total_us": total_top,
            "screener_top_level_us": own, "site_us": site,
            "top_cumulative": top_cum, "top_self": top_self, "exit_code": proc.returncode}


PHASES_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import screener.cli
t1 = time.perf_counter()
from screener.api import default_knowledge
t2 = time.perf_counter()
k = default_knowledge()
t3 = time.perf_counter()
report = k.screen(MEDS, CONDITIONS)
t4 = time.perf_counter()
from screener.formats import get_format
text = get_format("text").render_report(report, color=False)
t5 = time.perf_counter()
print(json.dumps({"import screener.cli (incl. click)": t1 - t0, "import screener.knowledge": t2 - t1,
                  "load_knowledge (cache read)": t3 - t2, "first screen (memo empty)": t4 - t3,
                  "render text report": t5 - t4}))
"""


def bench_phases(env: dict, runs: int) -> dict:
    """Median ms of each phase of a `check` inside a fresh process (no -X importtime inflation)."""
    script = PHASES_SCRIPT.replace("MEDS", repr(HEAVY_MEDS)).replace("CONDITIONS", repr(CONDITIONS))
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  phase timing failed: {proc.stderr.strip()[-300:]}")
            return {}
        for name, seconds in json.loads(proc.stdout).items():
            samples.setdefault(name, []).append(seconds * 1e3)
    phases = {name: statistics.median(v) for name, v in samples.items()}
    total = sum(phases.values())
    print()
    print(f"  phases of one warm check inside a fresh process (median of {runs}, plain run, no importtime):")
    print(table([[name, f"{v:.1f}", f"{v / total * 100:.0f}%"] for name, v in phases.items()]
                + [["total after interpreter start-up", f"{total:.1f}", "100%"]],
                ["phase", "ms", "share"]).replace("\n", "\n  ").join(["  ", ""]))
    return phases


# --- 3. library screen latency ----------------------------------------------------


def generated_patients(index, n: int, seed: int) -> tuple[list[tuple[list[str], list[str]]], int, int]:
    """`n` patients: 2-8 medication names (kind drug/product) and 0-2 condition names, seeded.

    Returns the patients and the sizes of the medication and condition name pools.
    """
    by_kind: dict[str, list[str]] = {}
    for norm, text in index.name_text.items():
        concept = index.names.get(norm)
        if concept is not None:
            by_kind.setdefault(index.kinds[concept], []).append(text)
    meds = sorted(by_kind.get("drug", []) + by_kind.get("product", []))
    conds = sorted(by_kind.get("condition", []))
    rng = random.Random(seed)
    patients = []
    for _ in range(n):
        patient_meds = rng.sample(meds, rng.randint(2, min(8, len(meds))))
        patient_conds = rng.sample(conds, rng.randint(0, min(2, len(conds))))
        patients.append((patient_meds, patient_conds))
    return patients, len(meds), len(conds)


def per_call_us(timer: timeit.Timer, repeat: int, number: int, calls_per_number: int = 1) -> dict:
    raw = timer.repeat(repeat=repeat, number=number)
    per = [t / number / calls_per_number * 1e6 for t in raw]
    return {"median_us": statistics.median(per), "min_us": min(per), "max_us": max(per),
            "repeat": repeat, "number": number}


def bench_library(repeat: int, number: int, patients_n: int, seed: int) -> dict:
    section("3. Library: k.screen(meds, conditions) after screener.load_knowledge()")
    import screener

    k = screener.load_knowledge()
    index = k.index
    out: dict = {}

    # Baseline in the same run: a trivial Python call through the same timeit machinery,
    # and one dict look-up per entry (the floor for any memoised screen).
    noop = per_call_us(timeit.Timer(lambda: None), repeat, number * 10)
    out["baseline_noop_call"] = noop

    cases = {"heavy (5 meds: Soma, Xanax, Norco, gabapentin, omeprazole + 2 conditions)": HEAVY_MEDS,
             "typical (5 meds: Soma, ibuprofen, omeprazole, acetaminophen, naproxen + 2 conditions)": TYPICAL_MEDS}
    rows = []
    for label, meds in cases.items():
        report = k.screen(meds, CONDITIONS)
        info = f"{len(report.findings)} findings, {len(report.unrecognized)} unrecognised"
        warm = per_call_us(timeit.Timer(lambda meds=meds: k.screen(meds, CONDITIONS)), repeat, number)

        memo = index.memo

        def cold_call(meds=meds, memo=memo):
            memo.clear()
            k.screen(meds, CONDITIONS)

        cold_number = max(1, number // 10)
        cold = per_call_us(timeit.Timer(cold_call), repeat, cold_number)
        clear_only = per_call_us(timeit.Timer(memo.clear), repeat, number)
        short = label.split(" ")[0]
        out[short] = {"meds": meds, "conditions": CONDITIONS, "result": info, "warm": warm, "cold": cold,
                      "memo_clear_only": clear_only}
        rows.append([f"{short}: memo warm", f"{warm['median_us']:9.1f}", f"{warm['min_us']:9.1f}",
                     f"{warm['median_us'] / TARGET_SCREEN_US:5.2f}x", info])
        rows.append([f"{short}: memo cleared each call", f"{cold['median_us']:9.1f}", f"{cold['min_us']:9.1f}",
                     f"{cold['median_us'] / TARGET_SCREEN_US:5.2f}x",
                     f"{cold['median_us'] / warm['median_us']:.0f}x the warm call"])

    patients, n_meds, n_conds = generated_patients(index, patients_n, seed)
    avg_meds = statistics.mean(len(m) for m, _ in patients)

    def screen_all():
        for meds, conds in patients:
            k.screen(meds, conds)

    varied_repeat = repeat
    # First pass over 1,000 new patients, memo cleared once before the batch: names recur across
    # patients (so their parsing is memo hits) but most medication pairs are new.
    first = per_call_us(timeit.Timer(screen_all, setup=index.memo.clear), varied_repeat, 1, len(patients))
    memo_size = len(index.memo)
    # Steady state: the same 1,000 patients again, everything memoised.
    again = per_call_us(timeit.Timer(screen_all), varied_repeat, 1, len(patients))
    out["varied"] = {"patients": len(patients), "seed": seed, "avg_meds": avg_meds,
                     "med_names_pool": n_meds, "condition_names_pool": n_conds,
                     "first_pass": first, "repeat_pass": again, "memo_entries_after_pass": memo_size}
    rows.append([f"varied: {len(patients)} patients, 1st pass", f"{first['median_us']:9.1f}",
                 f"{first['min_us']:9.1f}", f"{first['median_us'] / TARGET_SCREEN_US:5.2f}x",
                 f"avg {avg_meds:.1f} meds from {n_meds} names; memo {memo_size} entries after"])
    rows.append(["varied: same patients again", f"{again['median_us']:9.1f}", f"{again['min_us']:9.1f}",
                 f"{again['median_us'] / TARGET_SCREEN_US:5.2f}x", "all memo hits"])
    rows.append(["baseline: empty lambda call", f"{noop['median_us']:9.3f}", f"{noop['min_us']:9.3f}", "", ""])

    print(f"  timeit: repeat={repeat}, number={number} (memo-cleared: number={max(1, number // 10)}; "
          f"varied: repeat={varied_repeat}, 1 pass of {len(patients)} patients); median of repeats")
    print()
    print(table(rows, ["case", "median µs", "min µs", "/20µs", "note"], left_last=True))
    print()
    print("  'memo cleared each call' = k.index.memo.clear() before every screen: measures first-sight")
    print("  parsing of every input string and every pair/condition lookup: what each `screener check`")
    print("  process pays, since the memo is per process. 'varied 1st pass' = memo cleared once, then 1,000 different")
    print(f"  patients (seed {seed}): realistic hit rates for a long-running service or batch.")
    index.memo.clear()
    return out


# --- 4. cache load ---------------------------------------------------------------------


def bench_load(runs: int, env: dict, cache_dir: Path) -> dict:
    section("4. Knowledge load: screener.load_knowledge() from the warm cache")
    commands = {
        "python -c pass": [PY, "-c", "pass"],
        "python -c 'import screener'": [PY, "-c", "import screener"],
        "python -c 'import screener; screener.load_knowledge()'":
            [PY, "-c", "import screener; screener.load_knowledge()"],
    }
    print(f"  timing {len(commands)} commands x {runs} interleaved runs ...")
    results = interleaved(commands, runs, env)
    imp = results["python -c 'import screener'"]["median"]
    load = results["python -c 'import screener; screener.load_knowledge()'"]["median"]
    bare = results["python -c pass"]["median"]

    # In-process breakdown (modules already imported): what one load_knowledge() call costs.
    import pickle

    import screener
    from screener.knowledge import cache, content_key
    from screener.knowledge.files import KNOWLEDGE_FILES
    from screener.paths import bundled_data_dir

    directory = bundled_data_dir()
    screener.load_knowledge()  # make sure the slot for the knowledge as it is now exists
    current = cache_dir / cache.slot(content_key(directory), directory)
    files = [current] if current.exists() else []
    size = sum(f.stat().st_size for f in files)
    others = [f.name for f in cache_dir.glob("index-*.pickle") if f != current]
    t_load = [timeit.timeit(screener.load_knowledge, number=1) for _ in range(runs)]
    t_hash = [timeit.timeit(lambda: content_key(directory), number=1) for _ in range(runs)]
    data = files[0].read_bytes() if files else b""
    t_unpickle = [timeit.timeit(lambda: pickle.loads(data), number=1) for _ in range(runs)] if data else [0.0]
    csv_bytes = sum((directory / n).stat().st_size for n in KNOWLEDGE_FILES if (directory / n).exists())

    rows = [[name, ms(r["median"]), ms(r["p90"]), f"{r['median'] / bare:5.2f}x"] for name, r in results.items()]
    print()
    print(table(rows, ["command", "median ms", "p90 ms", "vs pass"]))
    print()
    print(f"  load_knowledge() in a fresh process (import+load minus import): {(load - imp) * 1e3:.1f} ms; "
          f"for scale, `import screener` costs {(imp - bare) * 1e3:.1f} ms beyond a bare interpreter "
          f"(load = {(load - imp) / (imp - bare):.2f}x that)")
    print(f"  in-process, modules already imported (median of {runs}): load_knowledge() "
          f"{statistics.median(t_load) * 1e3:.2f} ms = content key (files + compiler code) "
          f"{statistics.median(t_hash) * 1e3:.2f} ms + unpickle {statistics.median(t_unpickle) * 1e3:.2f} ms + rest")
    print(f"  cache file: {', '.join(f.name for f in files) or 'none'}: {size / 1024:.1f} KiB "
          f"({size} bytes); knowledge CSVs hashed per load: {csv_bytes / 1024:.1f} KiB")
    if others:
        print(f"  note: {len(others)} other cache file(s) appeared in the temporary cache during this run: "
              f"the knowledge files changed while it ran, so some figures may mix two versions")
    return {"commands": results, "fresh_process_load_seconds": load - imp,
            "import_screener_seconds": imp - bare,
            "in_process": {"load_knowledge": summary(t_load), "content_hash": summary(t_hash),
                           "unpickle": summary(t_unpickle)},
            "cache_files": [f.name for f in files], "cache_bytes": size, "other_cache_files": others,
            "csv_bytes_hashed": csv_bytes}


# --- main -------------------------------------------------------------------------------


def knowledge_hash() -> str:
    """Content hash of the bundled knowledge files (to notice edits during the run)."""
    from screener.knowledge import content_key
    from screener.paths import bundled_data_dir

    return content_key(bundled_data_dir())[:12]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="subprocess runs per command (default 21)")
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (default 7)")
    parser.add_argument("--number", type=int, default=2000, help="timeit calls per repeat (default 2000)")
    parser.add_argument("--patients", type=int, default=1000, help="generated patients for 'varied' (1000)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the generated patients")
    parser.add_argument("--json", metavar="PATH", help="also write all figures to PATH as JSON")
    parser.add_argument("--skip", action="append", default=[], choices=["cli", "imports", "library", "load"],
                        help="skip a section (repeatable)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results: dict = {
        "python": sys.version.split()[0], "executable": PY, "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "runs": args.runs,
    }
    import screener

    results["knowledge_hash_start"] = knowledge_hash()
    print(f"screener {screener.__version__} · Python {results['python']} ({PY}) · {results['platform']}")
    with tempfile.TemporaryDirectory(prefix="screener-bench-") as tmp:
        cache_dir = Path(tmp) / "cache"
        cache_dir.mkdir()
        os.environ["SCREENER_CACHE_DIR"] = str(cache_dir)  # this process (library + load sections)
        env = {**os.environ, "SCREENER_CACHE_DIR": str(cache_dir)}
        for var in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE"):
            env.pop(var, None)
        print(f"SCREENER_CACHE_DIR={cache_dir} (temporary)")
        # Warm the cache once so every section starting warm is warm.
        subprocess.run([PY, "-m", "screener", *CHECK_ARGS], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

        if "cli" not in args.skip:
            results["cli"] = bench_cli(args.runs, env, cache_dir)
        if "imports" not in args.skip:
            results["imports"] = bench_imports(env)
        if "library" not in args.skip:
            results["library"] = bench_library(args.repeat, args.number, args.patients, args.seed)
        if "load" not in args.skip:
            results["load"] = bench_load(args.runs, env, cache_dir)

    results["knowledge_hash_end"] = knowledge_hash()
    if results["knowledge_hash_end"] != results["knowledge_hash_start"]:
        print()
        print("WARNING: the knowledge files changed while the benchmark ran; re-run for clean figures.")
    results["elapsed_seconds"] = time.perf_counter() - started
    print()
    print(f"done in {results['elapsed_seconds']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
