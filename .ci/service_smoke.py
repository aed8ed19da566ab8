#!/usr/bin/env python
"""CI smoke test of the real CDS Hooks server: start `screener serve --trust FILE` on a loopback
port, with a stand-in EHR (benchmarks/fake_ehr.py) whose JWK Set is served on another loopback
port; send a discovery request, an order-sign request with the EHR's signed JWT, and one without
a JWT over HTTP; check the answers, stop it.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fake_ehr import FakeEhr

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MARKER = "Smoketestpatientname"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers)
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
    ehr = FakeEhr().start()
    folder = tempfile.TemporaryDirectory()
    trust = ehr.write_trust(folder.name, service_url=base)
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - read back and closed after the server stops
    server = subprocess.Popen([sys.executable, "-m", "screener", "serve", "--port", str(port), "--trust", str(trust)],
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

        sign_url = f"{base}/cds-services/screener-order-sign"
        status, answer = request(sign_url, order_sign())
        if status == 401 and "cards" not in answer:
            passed += 1
        else:
            failures.append(f"order-sign without a JWT: {status} {json.dumps(answer)[:300]}")

        status, answer = request(sign_url, order_sign(), token=ehr.sign(sign_url))
        cards = answer.get("cards", [])
        if status == 200 and any("alprazolam" in c["summary"] and c["indicator"] == "warning" for c in cards):
            passed += 1
        else:
            failures.append(f"order-sign: {status} {json.dumps(answer)[:300]}")
    finally:
        ehr.stop()
        folder.cleanup()
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
