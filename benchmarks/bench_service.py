#!/usr/bin/env python
"""Benchmark the CDS Hooks service under load, and fuzz it from its own OpenAPI schema.

Starts `screener serve` on a free loopback port (never another interface), then:

1. Load: at least 5,000 order-sign calls at concurrency 32 (threads, one
   keep-alive connection each), every call with its own hookInstance so every
   call screens and answers cards, and its own ES384 JWT from a stand-in EHR
   (benchmarks/fake_ehr.py) that the server verifies (`--trust`). Bounded in count (--requests) and time
   (--max-seconds): it stops by itself at whichever comes first. Reports p50,
   p90, p99 and max latency, throughput, and the error count (anything but
   200 with cards, or a connection error).
2. Discovery under load: GET /cds-services latency (p50, p99) while
   order-sign calls at the entries-per-patient cap (1 draft + 499 active
   medications) are screened back to back.
3. Fuzz: schemathesis against the app's own /openapi.json (a second server
   with --insecure-no-auth, as the fuzzer cannot sign) with the
   not_a_server_error check, bounded by --fuzz-examples per operation and
   --fuzz-seconds. Reports the cases generated, failures, and the 500s the
   server itself logged.

    python benchmarks/bench_service.py                    # ~1-3 minutes
    python benchmarks/bench_service.py --skip fuzz --requests 20000
    python benchmarks/bench_service.py --json service.json

The server is always stopped at the end. Nothing here asserts a timing; the
script exits 1 only if a load call failed or the fuzzer found a 500.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from fake_ehr import FakeEhr

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATH = "/cds-services/screener-order-sign"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "screener", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", "--log-level", "warning", *extra]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/cds-services", timeout=5) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- request bodies -------------------------------------------------------------------------------


def _searchset(*resources):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _med(rid, status, text=None, code=None, per_day=None, days=None):
    concept = {}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code}]
    if text:
        concept["text"] = text
    out = {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
           "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": concept}
    if per_day:
        out["dosageInstruction"] = [{"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                                     "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]
    if days:
        out["dispenseRequest"] = {"expectedSupplyDuration": {"value": days, "unit": "days", "code": "d",
                                                             "system": "http://unitsofmeasure.org"}}
    return out


def _condition(cid, code=None, text=None):
    concept = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]} if code else {}
    if text:
        concept["text"] = text
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"}, "code": concept,
            "clinicalStatus": {"coding": [{"code": "active"}]}}


def scenarios() -> list[dict]:
    """Four order-sign calls: a heavy one (5 active meds, 2 conditions, an allergy), and three lighter ones."""
    soma = _med("d1", "draft", "Soma 350 MG Oral Tablet", "2101", per_day=4, days=30)
    heavy = {
        "medicationRequests": _searchset(_med("m1", "active", "Xanax 0.5 mg"), _med("m2", "active", "Norco"),
                                         _med("m3", "active", "gabapentin 300 mg tid"),
                                         _med("m4", "active", "omeprazole 20 mg daily"),
                                         _med("m5", "active", "lisinopril 10 mg daily")),
        "conditions": _searchset(_condition("c1", "K74.60"), _condition("c2", text="pregnancy")),
        "allergies": _searchset({"resourceType": "AllergyIntolerance", "id": "a1",
                                 "patient": {"reference": "Patient/p1"}, "code": {"text": "meprobamate"},
                                 "clinicalStatus": {"coding": [{"code": "active"}]}}),
    }
    light = {"medicationRequests": _searchset(_med("m1", "active", "Xanax 0.5 mg")),
             "conditions": _searchset(), "allergies": _searchset()}
    none = {"medicationRequests": _searchset(_med("m1", "active", "atorvastatin 40 mg daily")),
            "conditions": _searchset(), "allergies": _searchset()}
    bodies = []
    for drafts, record, birth in [([soma], heavy, "1950-01-01"), ([soma], light, "1985-05-05"),
                                  ([_med("d2", "draft", "carisoprodol 500 mg", per_day=4)], light, "1990-01-01"),
                                  ([_med("d3", "draft", "metformin 500 mg bid")], none, "1970-07-07")]:
        bodies.append({
            "hook": "order-sign", "hookInstance": "",
            "context": {"userId": "Practitioner/1", "patientId": "p1",
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "birthDate": birth},
                         "medicationStatements": _searchset(), **record},
        })
    return bodies


# --- 1. load ----------------------------------------------------------------------------------------


def load(port: int, total: int, concurrency: int, max_seconds: float, sign, warmup: int = 100) -> dict:
    templates = scenarios()
    encoded = [json.dumps(b).replace('"hookInstance": ""', '"hookInstance": "%s"') for b in templates]
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    cards_total = [0]
    deadline = [0.0]

    def worker(limit: int, record: bool) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                n = next(counter)
                if n >= limit or time.monotonic() > deadline[0]:
                    return
                body = (encoded[n % len(encoded)] % uuid.uuid4()).encode()
                start = time.perf_counter()
                try:
                    # A fresh JWT per call, as an EHR sends: the server verifies each one.
                    headers = {"Content-Type": "application/json"}
                    if sign is not None:
                        headers["Authorization"] = f"Bearer {sign(f'http://127.0.0.1:{port}{PATH}')}"
                    conn.request("POST", PATH, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    status = str(response.status)
                    cards = len(json.loads(data).get("cards", [])) if response.status == 200 else 0
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    status, cards = type(exc).__name__, 0
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                elapsed = time.perf_counter() - start
                if record:
                    with lock:
                        latencies.append(elapsed)
                        statuses[status] = statuses.get(status, 0) + 1
                        cards_total[0] += cards
        finally:
            conn.close()

    def run(limit: int, record: bool) -> float:
        nonlocal counter
        counter = itertools.count()
        deadline[0] = time.monotonic() + max_seconds
        threads = [threading.Thread(target=worker, args=(limit, record)) for _ in range(concurrency)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    run(warmup, record=False)
    wall = run(total, record=True)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1e3

    errors = sum(n for s, n in statuses.items() if s != "200")
    return {
        "requests": len(latencies), "target": total, "concurrency": concurrency, "seconds": round(wall, 2),
        "stopped_by_time": len(latencies) < total,
        "throughput_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(pct(50), 2), "p90_ms": round(pct(90), 2), "p99_ms": round(pct(99), 2),
        "max_ms": round(ordered[-1] * 1e3, 2), "mean_ms": round(statistics.fmean(ordered) * 1e3, 2),
        "errors": errors, "statuses": statuses, "cards_per_call": round(cards_total[0] / max(1, len(latencies)), 2),
    }


# --- 2. discovery while a maximum-size call is screened --------------------------------------------------


def max_size_body() -> dict:
    """An order-sign call at the entries-per-patient cap: one Soma draft and 499 active medications."""
    names = ["Xanax 0.5 mg", "Norco", "gabapentin 300 mg tid", "omeprazole 20 mg daily", "lisinopril 10 mg daily",
             "oxycodone 5 mg q6h", "diazepam 5 mg", "sertraline 50 mg", "metformin 500 mg bid", "tramadol 50 mg"]
    body = scenarios()[1]
    body["prefetch"]["medicationRequests"] = _searchset(*[_med(f"m{n}", "active", names[n % len(names)])
                                                          for n in range(499)])
    return body


def discovery_while_screening(port: int, sign, polls: int = 300) -> dict:
    """Discovery latency (p50, p99, max) while maximum-size order-sign calls are screened back to back."""
    body = max_size_body()
    stop_flag = threading.Event()
    heavy: list[tuple[int, float]] = []

    def screen_forever() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while not stop_flag.is_set():
            body["hookInstance"] = str(uuid.uuid4())
            start = time.perf_counter()
            headers = {"Content-Type": "application/json"}
            if sign is not None:
                headers["Authorization"] = f"Bearer {sign(f'http://127.0.0.1:{port}{PATH}')}"
            conn.request("POST", PATH, body=json.dumps(body).encode(), headers=headers)
            response = conn.getresponse()
            response.read()
            heavy.append((response.status, time.perf_counter() - start))
        conn.close()

    worker = threading.Thread(target=screen_forever)
    worker.start()
    time.sleep(0.5)  # the first heavy call is being screened
    latencies = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(polls):
            start = time.perf_counter()
            conn.request("GET", "/cds-services")
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)
    finally:
        conn.close()
        stop_flag.set()
        worker.join()
    ordered = sorted(latencies)
    return {"polls": polls, "max_size_calls": len(heavy), "max_size_statuses": sorted({s for s, _ in heavy}),
            "max_size_call_ms": round(statistics.median(t for _, t in heavy) * 1e3, 1) if heavy else None,
            "discovery_p50_ms": round(ordered[len(ordered) // 2] * 1e3, 2),
            "discovery_p99_ms": round(ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)] * 1e3, 2),
            "discovery_max_ms": round(ordered[-1] * 1e3, 2)}


# --- 3. fuzz ----------------------------------------------------------------------------------------


def fuzz(port: int, examples: int, seconds: int, seed: int) -> dict:
    exe = shutil.which("schemathesis") or shutil.which("st")
    if exe is None:
        return {"skipped": "schemathesis is not installed (pip install -e '.[test]')"}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [exe, "run", f"http://127.0.0.1:{port}/openapi.json", "--checks", "not_a_server_error",
               "--max-examples", str(examples), "--max-time", str(seconds), "--seed", str(seed),
               "--generation-database", "none", "--request-timeout", "30", "--no-color", "--workers", "4",
               "--report", "json", "--report-json-path", str(report)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, cwd=tmp,
                                  env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
        except subprocess.TimeoutExpired:
            return {"error": "schemathesis did not finish in time"}
        out = proc.stdout
    generated = re.search(r"(\d+) generated", out)
    summary = re.search(r"Test cases:\s*\n\s*(.+)", out)
    failures = re.search(r"=+ FAILURES =+", out) is not None
    return {
        "exit_code": proc.returncode,
        "cases": int(generated.group(1)) if generated else None,
        "summary": summary.group(1).strip() if summary else out.strip().splitlines()[-1:],
        # not_a_server_error is the only check run, so any FAILURES section is a 5xx.
        "server_errors_found": failures,
        # Errors inside schemathesis itself (e.g. a flaky generator), not answers from the server.
        "tool_errors": out.count("Runtime Error"),
        "examples_per_operation": examples, "seconds_budget": seconds, "seed": seed,
        "tail": out.strip().splitlines()[-12:] if failures else [],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="order-sign calls to time (default 5000)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight (default 32)")
    parser.add_argument("--max-seconds", type=float, default=180, help="stop the load run after this long")
    parser.add_argument("--fuzz-examples", type=int, default=100, help="schemathesis cases per operation and phase")
    parser.add_argument("--fuzz-seconds", type=int, default=90, help="schemathesis time budget")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip", action="append", choices=["load", "discovery", "fuzz"], default=[])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--no-jwt", action="store_true",
                        help="baseline: serve with --insecure-no-auth and send no tokens (what the JWT costs)")
    args = parser.parse_args()

    results: dict = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - read back and closed after the server stops
    ehr = FakeEhr().start()
    folder = tempfile.TemporaryDirectory()
    trust = ehr.write_trust(folder.name, service_url=f"http://127.0.0.1:{port}")
    server = start_server(port, log, *(["--insecure-no-auth"] if args.no_jwt else ["--trust", str(trust)]))
    sign = None if args.no_jwt else ehr.sign
    results["jwt"] = not args.no_jwt
    try:
        if "load" not in args.skip:
            print(f"load: {args.requests} order-sign calls at concurrency {args.concurrency} "
                  f"(stops after {args.max_seconds:g} s) on 127.0.0.1:{port} …", flush=True)
            results["load"] = r = load(port, args.requests, args.concurrency, args.max_seconds, sign)
            print(f"  {r['requests']} calls in {r['seconds']} s ({r['throughput_per_s']}/s), "
                  f"{r['cards_per_call']} cards per call")
            print(f"  latency p50 {r['p50_ms']} ms, p90 {r['p90_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms")
            print(f"  errors {r['errors']}  statuses {r['statuses']}"
                  + ("  (stopped by the time bound)" if r["stopped_by_time"] else ""))
        if "discovery" not in args.skip:
            print("discovery: GET /cds-services while order-sign calls at the entries cap (500) are screened …",
                  flush=True)
            results["discovery"] = d = discovery_while_screening(port, sign)
            print(f"  {d['polls']} discovery calls: p50 {d['discovery_p50_ms']} ms, p99 {d['discovery_p99_ms']} ms, "
                  f"max {d['discovery_max_ms']} ms; meanwhile {d['max_size_calls']} maximum-size calls "
                  f"(median {d['max_size_call_ms']} ms, statuses {d['max_size_statuses']})")
        if "fuzz" not in args.skip:
            print(f"fuzz: schemathesis on /openapi.json, not_a_server_error, {args.fuzz_examples} examples, "
                  f"{args.fuzz_seconds} s budget …", flush=True)
            # The fuzzer cannot sign tokens: it gets its own server without authentication (loopback only),
            # so its cases reach the hook calls instead of stopping at 401.
            fuzz_port = free_port()
            fuzz_server = start_server(fuzz_port, log, "--insecure-no-auth")
            try:
                results["fuzz"] = f = fuzz(fuzz_port, args.fuzz_examples, args.fuzz_seconds, args.seed)
            finally:
                stop(fuzz_server)
            for key, value in f.items():
                if key != "tail":
                    print(f"  {key}: {value}")
            for line in f.get("tail", []):
                print(f"  | {line}")
    finally:
        stop(server)
        ehr.stop()
        folder.cleanup()
    log.seek(0)
    logged = log.read()
    results["server_500s_logged"] = logged.count("internal error") + logged.count("Exception in ASGI application")
    print(f"server-side 500s logged: {results['server_500s_logged']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {args.json}")
    failed = (results.get("load", {}).get("errors", 0) or results["server_500s_logged"]
              or results.get("discovery", {}).get("max_size_statuses", [200]) != [200]
              or results.get("fuzz", {}).get("server_errors_found", False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
