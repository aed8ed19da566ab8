"""The web page's API, its access rule and its assets, through FastAPI's TestClient.

The page itself, in a real browser, is tested in `test_web_browser.py`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screener.service import create_app
from screener.web import bind
from screener.web.access import MIN_TOKEN_LENGTH, TOKEN_ENV, host_name, is_loopback

STATIC = Path(__file__).resolve().parents[1] / "src" / "screener" / "web" / "static"
LOCAL = "http://127.0.0.1:8765"
TOKEN = "correct-horse-battery-staple-42"
SOMA_XANAX = {"medications": ["Soma 350 mg qid", "Xanax"], "conditions": ["pregnancy"], "allergies": [], "age": None}


@pytest.fixture
def app(kb, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    return create_app(kb)


@pytest.fixture
def client(app):
    """The page as `screener serve` serves it on its default loopback bind."""
    bind(app, "127.0.0.1")
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def screen(client, **body):
    return client.post("/api/page/screen", json={**SOMA_XANAX, **body})


# --- the screen -------------------------------------------------------------------------------------


def test_screen_answers_the_report_contract_and_its_display_lines(client, kb):
    response = screen(client)
    assert response.status_code == 200
    data = response.json()
    assert data["report"] == kb.screen(["Soma 350 mg qid", "Xanax"], ["pregnancy"]).to_dict()
    assert data["report"]["status"] == "findings"
    assert [(f["severity"], f["title"]) for f in data["report"]["findings"]] == [
        ("major", "carisoprodol + alprazolam"), ("moderate", "carisoprodol + Pregnancy")]
    assert data["paths"][0] == '"Soma 350 mg qid" → soma → carisoprodol ⟷ benzodiazepines ← alprazolam ← xanax ← "Xanax"'
    assert data["screened"] == [
        {"field": "medication", "input": "Soma 350 mg qid", "read": "carisoprodol; 350 mg/dose; 4×/day; 1,400 mg/day"},
        {"field": "medication", "input": "Xanax", "read": "alprazolam"},
        {"field": "condition", "input": "pregnancy", "read": "pregnancy"},
    ]
    assert data["patient"][0] == ("Taking this with a benzodiazepine (such as alprazolam or diazepam) can make you "
                                  "dangerously drowsy.")
    assert len(data["patient"]) == len(set(data["patient"]))
    assert response.headers["cache-control"] == "no-store"


def test_an_unrecognised_or_not_covered_entry_makes_the_screen_incomplete(client):
    data = screen(client, medications=["Soma 350 mg qid", "Xanax", "xyzzymab", "lisinopril"]).json()["report"]
    assert data["status"] == "incomplete"
    assert data["message"] == "2 cautions found; 2 inputs not recognised or not checked: the screen is incomplete."
    assert [(u["input"], u["reason"]) for u in data["unrecognized"]] == [
        ("xyzzymab", "not found in the knowledge base or the FDA vocabulary"),
        ("lisinopril", "lisinopril is a recognised FDA substance, but this knowledge base does not classify it: "
                       "its interactions were not checked"),
    ]


def test_age_is_read_as_check_reads_it(client):
    assert screen(client, age="18 months").json()["report"]["screened"]["age"] == 1.5
    assert screen(client, age=70).json()["report"]["screened"]["age"] == 70


@pytest.mark.parametrize(("body", "status", "answer"), [
    ({"age": "old"}, 400, {"error": "age 'old' is not a number of years", "field": "age"}),
    ({"medications": []}, 400, {"error": "give at least one medication to screen", "field": "medications"}),
    ({"medications": ["  "]}, 400, {"error": "give at least one medication to screen", "field": "medications"}),
    ({"medications": ["x" * 201]}, 400,
     {"error": f"medication entry '{'x' * 39}…' is 201 characters long; the limit is 200"}),
])
def test_bad_input_gets_one_line(client, body, status, answer):
    response = screen(client, **body)
    assert (response.status_code, response.json()) == (status, answer)


def test_a_request_of_the_wrong_shape_names_the_field_not_the_value(client):
    response = client.post("/api/page/screen", json={"medications": "Secretpatientdrug", "extra": 1})
    assert response.status_code == 422
    assert response.json()["error"].startswith("not a valid page request: send {\"medications\"")
    assert {p["field"] for p in response.json()["problems"]} == {"medications", "extra"}
    assert "Secretpatientdrug" not in response.text


def test_only_json_is_accepted(client):
    # A cross-site form can post text/plain without asking the browser first; JSON it cannot.
    response = client.post("/api/page/screen", content=b'{"medications": ["Soma"]}',
                           headers={"content-type": "text/plain"})
    assert (response.status_code, response.json()) == (415, {"error": "send the request as application/json"})
    response = client.post("/api/page/screen", content=b"{not json", headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": "the request body is not valid JSON"})


def test_nothing_typed_is_logged(client, caplog):
    with caplog.at_level(logging.DEBUG):
        screen(client, medications=["Soma 350 mg qid", "Markerdrugname"], conditions=["Markercondition"])
        client.post("/api/page/suggest", json={"kind": "medication", "q": "Markerdrugname"})
        client.post("/api/page/screen", json={"medications": "Markerdrugname"})
    assert "Markerdrugname" not in caplog.text and "Markercondition" not in caplog.text
    assert re.search(r"page screen status=200 findings=0 incomplete=2 ms=", caplog.text)


# --- suggestions ------------------------------------------------------------------------------------


def suggest(client, kind, q):
    response = client.post("/api/page/suggest", json={"kind": kind, "q": q})
    assert response.status_code == 200, response.text
    return response.json()


def test_suggestions_complete_a_half_typed_name(client):
    data = suggest(client, "medication", "xan")
    assert data["completions"][0] == "Xanax"
    assert data["reading"]["state"] == "problem"  # "xan" alone is not a medication


@pytest.mark.parametrize(("kind", "q", "reading"), [
    ("medication", "Soma 350 mg qid", {"state": "read", "text": "carisoprodol; 350 mg/dose; 4×/day; 1,400 mg/day",
                                       "suggestions": []}),
    ("medication", "Soma 500 tid", {"state": "problem", "suggestions": [],
                                    "text": "dose not checked for Soma: 500 (no unit; give it, e.g. '500 mg')"}),
    ("medication", "Norco", {"state": "read", "text": "hydrocodone + acetaminophen", "suggestions": []}),
    ("condition", "pregnant", {"state": "read", "text": "Pregnancy", "suggestions": []}),
    ("condition", "I10", {"state": "read", "suggestions": [],
                          "text": "ICD-10-CM I10 Essential (primary) hypertension: recognised, no rules here"}),
    ("allergy", "NKDA", {"state": "read", "text": "no known allergies: nothing to screen", "suggestions": []}),
    ("allergy", "", {"state": "none", "text": "", "suggestions": []}),
])
def test_suggestions_say_what_check_reads_the_entry_as(client, kind, q, reading):
    assert suggest(client, kind, q)["reading"] == reading


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["medication", "condition", "allergy"]), q=st.text(max_size=60))
def test_whatever_is_typed_gets_an_answer_never_a_500(client, kind, q):
    response = client.post("/api/page/suggest", json={"kind": kind, "q": q})
    assert response.status_code == 200, response.text
    reading = response.json()["reading"]
    assert reading["state"] in ("read", "problem", "none")
    assert (reading["state"] == "none") == (not q.strip())
    screened = client.post("/api/page/screen", json={"medications": [q or "x"], "conditions": [q or "x"]})
    assert screened.status_code in (200, 400), screened.text
    if screened.status_code == 200:
        assert set(screened.json()) == {"report", "paths", "screened", "patient"}
    else:  # one line saying what is wrong, and which field when it is one field's
        assert "error" in screened.json() and set(screened.json()) <= {"error", "field"}


def test_suggest_refuses_an_unknown_kind(client):
    response = client.post("/api/page/suggest", json={"kind": "drug", "q": "xan"})
    assert response.status_code == 422
    assert response.json()["problems"] == [{"field": "kind", "problem": "String should match pattern "
                                                                        "'^(medication|condition|allergy)$'"}]


# --- who may use it ---------------------------------------------------------------------------------


OFF_UNKNOWN = ("the page is off: the server's bind address is unknown (not started by `screener serve`); "
               f"set {TOKEN_ENV} (at least {MIN_TOKEN_LENGTH} characters) to serve it")


def test_off_until_the_bind_is_known(app):
    with TestClient(app, base_url=LOCAL) as c:
        assert (c.get("/").status_code, c.get("/").text) == (404, OFF_UNKNOWN + "\n")
        assert c.get("/page/page.js").status_code == 404
        assert (screen(c).status_code, screen(c).json()) == (404, {"error": OFF_UNKNOWN})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "screener.example.org"])
def test_off_on_a_wider_bind_without_a_token(app, host):
    assert bind(app, host).value == "off"
    with TestClient(app, base_url=LOCAL) as c:
        assert screen(c).json() == {"error": f"the page is off: the server binds {host}, which is not a loopback "
                                             f"address; set {TOKEN_ENV} (at least 16 characters) to serve it"}
        assert c.get("/cds-services").status_code == 200  # the CDS Hooks service is not affected


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_open_on_a_loopback_bind(app, host):
    assert bind(app, host).value == "open"


def test_a_loopback_page_answers_only_to_loopback_host_names(client):
    # A page elsewhere that points its own DNS name at 127.0.0.1 must not read the page's answers.
    response = client.post("/api/page/screen", json=SOMA_XANAX, headers={"host": "attacker.example:8765"})
    assert (response.status_code, response.json()) == (
        403, {"error": "the page answers only to a loopback host name (localhost, 127.0.0.1, [::1])"})
    for host in ("localhost:8765", "[::1]:8765", "127.0.0.1"):
        assert client.post("/api/page/screen", json=SOMA_XANAX, headers={"host": host}).status_code == 200


@pytest.fixture
def token_app(kb, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app = create_app(kb)
    bind(app, "0.0.0.0")
    return app


def test_a_token_serves_the_page_and_guards_its_api(token_app):
    with TestClient(token_app, base_url="http://screener.example.org") as c:
        assert c.get("/").status_code == 200  # the page itself holds no data; it asks for the token
        assert (screen(c).status_code, screen(c).json()) == (
            401, {"error": "sign in: this page needs its access token", "signin": True})
        assert c.get("/api/page/info").status_code == 401
        wrong = c.post("/api/page/screen", json=SOMA_XANAX, headers={"authorization": "Bearer " + TOKEN[:-1]})
        assert wrong.status_code == 401
        right = c.post("/api/page/screen", json=SOMA_XANAX, headers={"authorization": "Bearer " + TOKEN})
        assert right.status_code == 200


def test_signing_in_sets_a_session_cookie(token_app):
    with TestClient(token_app, base_url="http://screener.example.org") as c:
        refused = c.post("/api/page/login", json={"token": "not-the-token-at-all"})
        assert (refused.status_code, refused.json()["error"]) == (401, "that is not this page's access token")
        signed = c.post("/api/page/login", json={"token": TOKEN})
        assert signed.status_code == 200
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert TOKEN not in cookie  # a keyed hash stands for the token
        assert screen(c).status_code == 200


def test_login_is_for_token_access_only(client):
    response = client.post("/api/page/login", json={"token": TOKEN})
    assert (response.status_code, response.json()) == (400, {"error": "this page needs no sign-in"})


def test_a_short_token_is_refused_and_the_page_stays_off(kb, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "short")
    app = create_app(kb)
    assert bind(app, "127.0.0.1").value == "off"
    with TestClient(app, base_url=LOCAL) as c:
        assert screen(c).json() == {"error": f"the page is off: {TOKEN_ENV} is shorter than 16 characters"}


@pytest.mark.parametrize(("header", "name"), [("127.0.0.1:8765", "127.0.0.1"), ("[::1]:80", "::1"),
                                              ("localhost", "localhost"), ("::1", "::1")])
def test_host_names(header, name):
    assert host_name(header) == name
    assert is_loopback(name)


# --- assets -----------------------------------------------------------------------------------------


def test_the_page_loads_only_its_own_files(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(not re.match(r"^[a-z]+:|^//", ref) for ref in refs), refs
    for ref in refs:
        if ref.startswith(("page/", "docs")):
            assert client.get("/" + ref).status_code == 200, ref


def test_every_input_has_a_label():
    html = (STATIC / "index.html").read_text()
    ids = re.findall(r'<input id="([^"]+)"', html)
    assert ids
    for input_id in ids:
        assert f'<label for="{input_id}">' in html, input_id


def test_the_openapi_docs_load_from_local_assets(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    refs = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert "docs/swagger-ui-bundle.js" in refs and "docs/swagger-ui.css" in refs
    for ref in refs:
        assert not re.match(r"^[a-z]+:|^//", ref), ref
        assert client.get("/" + ref).status_code == 200, ref
    assert "cdn" not in docs.text.lower()
    assert client.get("/redoc").status_code == 404  # FastAPI's ReDoc page loads only from a CDN
    assert client.get("/openapi.json").json()["info"]["title"] == "screener CDS Hooks service"


def test_the_vendored_swagger_ui_is_the_recorded_release():
    notes = (STATIC / "swagger-ui" / "README.md").read_text()
    recorded = dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", notes, flags=re.M))
    assert set(recorded) == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC / "swagger-ui" / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (STATIC / "swagger-ui" / "LICENSE").read_text()
