"""Golden CDS Hooks fixtures: recorded requests and the exact answers, as published CDS content ships its
test data (tests/data/cds-hooks/NAME.request.json → NAME.expected.json).

Dates are relative to today: a birthDate written `{{today-72y}}` is today's date 72 years ago, so the
patient's age never drifts. The knowledge version in the answers is written `<knowledge-version>`.
After a deliberate change to the cards, rewrite the expected answers and review the diff:

    SCREENER_UPDATE_GOLDEN=1 python -m pytest tests/test_service_golden.py
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path

import pytest

from cds_auth import JWKS_URL, FakeJwks, Keys, SignedClient, trust
from screener.service import create_app

GOLDEN = Path(__file__).parent / "data" / "cds-hooks"
CASES = sorted(p.name.removesuffix(".request.json") for p in GOLDEN.glob("*.request.json"))
RELATIVE_DATE = re.compile(r"\{\{today-(\d+)y\}\}")


def years_ago(today: date, years: int) -> str:
    try:
        return today.replace(year=today.year - years).isoformat()
    except ValueError:  # 29 February in a year without one
        return today.replace(year=today.year - years, day=28).isoformat()


def materialise(text: str, today: date) -> dict:
    return json.loads(RELATIVE_DATE.sub(lambda m: years_ago(today, int(m.group(1))), text))


@pytest.fixture(scope="module")
def client(kb):
    keys = Keys()
    app = create_app(kb, trust=trust(), jwks_fetcher=FakeJwks({JWKS_URL: keys.jwks()}))  # today: the real one
    with SignedClient(app, keys) as c:
        yield c


def test_there_are_golden_cases_for_each_service():
    hooks = {json.loads((GOLDEN / f"{name}.request.json").read_text())["hook"] for name in CASES}
    assert hooks == {"order-select", "order-sign"}


@pytest.mark.parametrize("name", CASES)
def test_the_answer_is_exactly_the_recorded_one(client, kb, name):
    body = materialise((GOLDEN / f"{name}.request.json").read_text(), date.today())
    response = client.post(f"/cds-services/screener-{body['hook']}", json=body)
    got = json.loads(response.text.replace(kb.version, "<knowledge-version>"))
    answer = {"status": response.status_code, "body": got}
    expected = GOLDEN / f"{name}.expected.json"
    if os.environ.get("SCREENER_UPDATE_GOLDEN"):
        expected.write_text(json.dumps(answer, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert answer == json.loads(expected.read_text(encoding="utf-8"))
