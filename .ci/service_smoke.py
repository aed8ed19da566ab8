#!/usr/bin/env python
"""CI smoke test of the real CDS Hooks server: start `screener serve` on a loopback port,
send a discovery request and an order-sign request over HTTP, check the answers, stop it.

Exits 0 when every check passes, 1 otherwise. Bounded: the server gets 60 s to start and
each request 30 s; the server is always stopped. Prints one closing line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MARKER = "Smoketestpatientname"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def order_sign() -> dict:
    def searchset(*resources):
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}

    draft = {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
             "subject": {"reference": "Patient/p1"},
             "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "2101"}],
                                           "text": "carisoprodol 350 MG Oral Tablet"},
             "dosageInstruction": [{"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]}
    xanax = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
             "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "Xanax 0.5 mg"}}
    return {
        "hook": "order-sign", "hookInstance": "d1bf2ba6-3b0c-4f7e-9d2a-1c0b7d7c1e11",
        "context": {"userId": "Practitioner/1", "patientId": "p1",
                    "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-02-02",
                                 "name": [{"family": MARKER}]},
                     "medicationRequests": searchset(xanax), "medicationStatements": searchset(),
                     "conditions": searchset(), "allergies": searchset()},
    }


def main() -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - read back and closed after the server stops
    server = subprocess.Popen([sys.executable, "-m", "screener", "serve", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    failures: list[str] = []
    passed = 0
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, discovery = request(f"{base}/cds-services")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    print(f"server did not start:\n{log.read()}", file=sys.stderr)
                    return 1
                time.sleep(0.2)
        hooks = sorted(s["hook"] for s in discovery.get("services", []))
        if status == 200 and hooks == ["order-select", "order-sign"]:
            passed += 1
        else:
            failures.append(f"discovery: {status} {hooks}")

        status, answer = request(f"{base}/cds-services/screener-order-sign", order_sign())
        cards = answer.get("cards", [])
        if status == 200 and any("alprazolam" in c["summary"] and c["indicator"] == "warning" for c in cards):
            passed += 1
        else:
            failures.append(f"order-sign: {status} {json.dumps(answer)[:300]}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log.seek(0)
    logged = log.read()
    if MARKER in logged or "Xanax" in logged:
        failures.append("patient data in the server log")
    else:
        passed += 1
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print(f"service-smoke: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
