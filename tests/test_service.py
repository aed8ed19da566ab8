"""The CDS Hooks service contract, through FastAPI's TestClient."""

from __future__ import annotations

import json
import logging

import pytest

from cds_auth import JWKS_URL, FakeJwks, Keys, SignedClient, trust
from fhir_fixtures import TODAY, allergy, bundle, condition, patient, request, statement, tablet_dose, walk
from screener.service import PREFETCH, SUMMARY_LIMIT, create_app

SIGN = "/cds-services/screener-order-sign"
SELECT = "/cds-services/screener-order-select"
SOMA = "2101"


@pytest.fixture(scope="module")
def keys():
    return Keys()


def make_app(kb, keys, **kw):
    """The app as a hospital runs it: one trusted EHR whose JWK Set the fake fetcher serves."""
    kw.setdefault("trust", trust())
    return create_app(kb, today=TODAY, jwks_fetcher=FakeJwks({JWKS_URL: keys.jwks()}), **kw)


@pytest.fixture
def app(kb, keys):
    return make_app(kb, keys)


@pytest.fixture
def client(app, keys):
    with SignedClient(app, keys) as c:
        yield c


def searchset(*resources):
    return bundle(*resources, kind="searchset")


def prefetch(meds=(), statements=(), conditions=(), allergies=(), birth="1990-01-01"):
    return {
        "patient": patient("p1", birth),
        "medicationRequests": searchset(*meds),
        "medicationStatements": searchset(*statements),
        "conditions": searchset(*conditions),
        "allergies": searchset(*allergies),
    }


def call(hook="order-sign", drafts=(), instance="hook-1", selections=None, **pre):
    draft_bundle = {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}  # no type, as in the spec
    context = {"userId": "Practitioner/1", "patientId": "p1", "draftOrders": draft_bundle}
    if selections is not None:
        context["selections"] = selections
    return {"hook": hook, "hookInstance": instance, "context": context, "prefetch": prefetch(**pre)}


def draft(mid="d1", text=None, code=SOMA, **kw):
    return request(mid, text, code, status="draft", **kw)


XANAX = request("m1", "Xanax 0.5 mg")


# --- discovery and cards ---------------------------------------------------------------------


def test_discovery_lists_order_select_and_order_sign(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = {s["hook"]: s for s in response.json()["services"]}
    assert set(services) == {"order-select", "order-sign"}
    for service in services.values():
        assert service["description"] and service["id"] and service["title"]
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert set(service["prefetch"]) == set(PREFETCH)
        assert "status=active" in service["prefetch"]["medicationRequests"]


def test_order_sign_answers_cards_with_the_required_fields(client, kb):
    response = client.post(SIGN, json=call(drafts=[draft(dosage=tablet_dose(4))], meds=[XANAX]))
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert cards
    card = next(c for c in cards if "alprazolam" in c["summary"])
    assert len(card["summary"]) < 140
    assert card["indicator"] == "warning"  # major
    assert kb.version in card["source"]["label"]
    assert card["source"]["url"].startswith("https://dailymed.nlm.nih.gov/")
    assert card["source"]["topic"]["code"] == "DRG"
    assert "**Path:**" in card["detail"] and "**Do:**" in card["detail"]
    assert "MedicationRequest/d1" in card["detail"] and "MedicationRequest/m1" in card["detail"]
    assert all(r["display"] and r["code"] and r["system"] for r in card["overrideReasons"])
    assert card["uuid"]
    assert all(v is not None for _, v in walk(response.json()))  # CDS Hooks: no nulls


def test_indicators_follow_severity(client):
    cards = client.post(SIGN, json=call(drafts=[draft(text="carisoprodol 500 mg")],
                                        allergies=[allergy("a1", "meprobamate")])).json()["cards"]
    indicators = {c["summary"].split(":")[0]: c["indicator"] for c in cards}
    assert indicators["Contraindicated"] == "critical"
    assert indicators["Minor"] == "info"


def test_summaries_stay_under_140_characters(client):
    cards = client.post(SIGN, json=call(
        drafts=[draft(text="Prosoma 500mg", dosage=tablet_dose(4))], meds=[XANAX, request("m2", "Norco")],
        conditions=[condition("c1", "pregnancy"), condition("c2", "cirrhosis")], birth="1940-01-01")).json()["cards"]
    assert len(cards) >= 5
    assert all(len(c["summary"]) <= SUMMARY_LIMIT for c in cards)


def test_no_findings_is_an_empty_card_list(client):
    response = client.post(SIGN, json=call(drafts=[draft(text="Xanax 0.5 mg", code=None)]))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_findings_only_between_existing_medications_are_not_shown(client):
    response = client.post(SIGN, json=call(drafts=[draft(text="acetaminophen 500 mg", code=None)],
                                           meds=[XANAX], statements=[statement("s1", "Soma")]))
    assert response.json() == {"cards": []}


def test_a_draft_the_knowledge_does_not_cover_gives_an_incomplete_card(client):
    cards = client.post(SIGN, json=call(drafts=[draft(text="lisinopril 10 mg", code=None)])).json()["cards"]
    assert len(cards) == 1 and cards[0]["indicator"] == "warning"
    assert "does not classify it: its interactions were not checked" in cards[0]["detail"]


def test_unrecognised_draft_gives_an_incomplete_card(client):
    cards = client.post(SIGN, json=call(drafts=[draft(text="xyzzymab 10 mg", code=None)])).json()["cards"]
    assert len(cards) == 1
    assert cards[0]["summary"].startswith("Screen incomplete: 1 item not recognised")
    assert cards[0]["indicator"] == "warning"


def test_inactive_prefetched_items_are_not_screened(client):
    stopped = statement("s1", "Xanax", status="stopped")
    resolved = condition("c1", "pregnancy", clinical="resolved")
    response = client.post(SIGN, json=call(drafts=[draft()], statements=[stopped], conditions=[resolved]))
    assert response.json() == {"cards": []}


# --- order-select and order-sign ----------------------------------------------------------------


def test_order_select_warns_only_about_selected_orders(client):
    drafts = [draft("d1", text="Xanax 0.5 mg", code=None), draft("d2", text="carisoprodol 500 mg x 30 days", code=None)]
    body = call("order-select", drafts=drafts, selections=["MedicationRequest/d1"],
                meds=[request("m1", "Norco")])
    cards = client.post(SELECT, json=body).json()["cards"]
    assert cards, "Xanax + Norco (opioid + benzodiazepine) should be shown"
    for card in cards:
        assert "MedicationRequest/d1" in card["detail"]
    assert not any("500" in c["summary"] or "30 days" in c["summary"] for c in cards)  # d2's own findings
    both = call("order-select", drafts=drafts, selections=["MedicationRequest/d1", "MedicationRequest/d2"],
                meds=[request("m1", "Norco")], instance="hook-2")
    assert len(client.post(SELECT, json=both).json()["cards"]) > len(cards)


def test_order_select_needs_selections_in_the_draft_orders(client):
    response = client.post(SELECT, json=call("order-select", drafts=[draft()], selections=["MedicationRequest/zz"]))
    assert response.status_code == 400
    assert "MedicationRequest/zz" in response.json()["error"]
    response = client.post(SELECT, json=call("order-select", drafts=[draft()]))
    assert response.status_code == 400


def test_a_retried_call_gets_the_same_cards(client):
    # The EHR's first call timed out or its answer was lost: the retry carries the same hookInstance
    # (and a fresh JWT) and must not read as "nothing found".
    body = call(drafts=[draft()], meds=[XANAX], instance="same")
    first = client.post(SIGN, json=body).json()
    assert any("alprazolam" in c["summary"] for c in first["cards"])
    assert client.post(SIGN, json=body).json() == first
    other = call(drafts=[draft()], meds=[XANAX], instance="other")  # signing again later: a new decision
    assert client.post(SIGN, json=other).json()["cards"] == [
        {**c, "uuid": c2["uuid"]} for c, c2 in zip(first["cards"], client.post(SIGN, json=other).json()["cards"],
                                                    strict=True)]


def test_a_retry_after_order_select_gets_the_same_shorter_answer(client):
    drafts = [draft("d1", text="Xanax 0.5 mg", code=None), draft("d2", text="carisoprodol 500 mg", code=None)]
    select = call("order-select", drafts=drafts, selections=["MedicationRequest/d1"], meds=[request("m1", "Norco")],
                  instance="select-1")
    assert client.post(SELECT, json=select).json()["cards"]
    sign = call(drafts=drafts, meds=[request("m1", "Norco")], instance="sign-1")
    first = client.post(SIGN, json=sign).json()
    assert client.post(SIGN, json=sign).json() == first
    # Even when order-select has shown more cards since, the retry is answered as the first call was.
    both = call("order-select", drafts=drafts, selections=["MedicationRequest/d1", "MedicationRequest/d2"],
                meds=[request("m1", "Norco")], instance="select-2")
    assert client.post(SELECT, json=both).json()["cards"]
    assert client.post(SIGN, json=sign).json() == first


def test_a_critical_card_is_shown_again_at_sign(client):
    drafts = [draft("d1", text="carisoprodol 350 mg", code=None)]
    allergic = {"allergies": [allergy("a1", "meprobamate")]}
    selected = client.post(SELECT, json=call("order-select", drafts=drafts, selections=["MedicationRequest/d1"],
                                             instance="s", **allergic)).json()["cards"]
    signed = client.post(SIGN, json=call(drafts=drafts, instance="t", **allergic)).json()["cards"]
    critical = [c["summary"] for c in selected if c["indicator"] == "critical"]
    assert critical and critical == [c["summary"] for c in signed if c["indicator"] == "critical"]


def test_order_sign_skips_cards_order_select_showed(client):
    drafts = [draft("d1", text="Xanax 0.5 mg", code=None), draft("d2", text="carisoprodol 500 mg", code=None)]
    selected = client.post(SELECT, json=call("order-select", drafts=drafts, selections=["MedicationRequest/d1"],
                                             meds=[request("m1", "Norco")], instance="select-1")).json()["cards"]
    signed = client.post(SIGN, json=call(drafts=drafts, meds=[request("m1", "Norco")],
                                         instance="sign-1")).json()["cards"]
    shown = {c["summary"] for c in selected}
    assert shown and signed
    assert not shown & {c["summary"] for c in signed}
    # Another patient's (or user's) sign is another workflow: nothing is skipped there.
    elsewhere = call(drafts=drafts, meds=[request("m1", "Norco")], instance="sign-2")
    elsewhere["context"]["userId"] = "Practitioner/2"
    assert shown <= {c["summary"] for c in client.post(SIGN, json=elsewhere).json()["cards"]}


def test_medications_in_resources_the_screener_does_not_read_make_the_screen_incomplete(client):
    dispense = {"resourceType": "MedicationDispense", "id": "md1", "status": "completed",
                "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "oxycodone 5 mg"}}
    given = {"resourceType": "MedicationAdministration", "id": "ma1", "status": "completed",
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-05-30",
             "medicationCodeableConcept": {"text": "Xanax 0.5 mg"}}
    body = call(drafts=[draft()])
    body["prefetch"]["medicationStatements"] = searchset(dispense, given)
    cards = client.post(SIGN, json=body).json()["cards"]
    assert [c["summary"] for c in cards] == [
        "Screen incomplete: 2 items not recognised or not checked (the record was not read in full)"]
    assert cards[0]["indicator"] == "warning"
    assert ("- 1 MedicationAdministration: holds medications the screener does not read, so they were not screened."
            in cards[0]["detail"])
    assert "- 1 MedicationDispense: holds medications" in cards[0]["detail"]


def test_resources_of_another_patient_are_refused(client):
    body = call(drafts=[draft()], meds=[request("m9", "Xanax 0.5 mg", pid="p2")])
    response = client.post(SIGN, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "FHIR MedicationRequest/m9: subject.reference: refers to Patient/p2, not to " \
                                       "this bundle's patient (Patient/p1)"
    body = call(drafts=[draft()])
    del body["prefetch"]["patient"]["id"]  # no Patient id: the context's patient still decides
    body["prefetch"]["medicationStatements"] = searchset(statement("s1", "Soma", pid="pA"),
                                                         statement("s2", "Xanax", pid="pB"))
    assert client.post(SIGN, json=body).status_code == 400


# --- feedback ---------------------------------------------------------------------------------


def test_feedback_is_accepted(client, app):
    body = {"feedback": [{"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "overridden",
                          "overrideReason": {"reason": {"code": "will-monitor", "system": "urn:screener:override-reason",
                                                        "display": "Will monitor the patient"}},
                          "outcomeTimestamp": "2025-06-01T12:00:00Z"}]}
    response = client.post(SIGN + "/feedback", json=body)
    assert response.status_code == 200
    assert app.state.feedback[("screener-order-sign", "overridden")] == 1
    assert client.post(SIGN + "/feedback", json={"feedback": [{"card": "x", "outcome": "ignored"}]}).status_code == 422
    assert client.post("/cds-services/nope/feedback", json=body).status_code == 404


def test_feedback_is_appended_to_the_feedback_file_without_patient_data(kb, keys, tmp_path):
    path = tmp_path / "feedback.jsonl"
    with SignedClient(make_app(kb, keys, feedback_file=path), keys) as c:
        card = next(x for x in c.post(SIGN, json=call(drafts=[draft()], meds=[XANAX])).json()["cards"]
                    if "alprazolam" in x["summary"])
        assert card["overrideReasons"][1]["code"] == "will-monitor"
        body = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                              "overrideReason": {"reason": card["overrideReasons"][1],
                                                 "userComment": "Mrs Zzmarker takes it at night only"},
                              "outcomeTimestamp": "2025-06-01T12:00:00Z"},
                             {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2025-06-01T12:01:00Z"}]}
        assert c.post(SIGN + "/feedback", json=body).json() == {}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [{k: v for k, v in line.items() if k != "received"} for line in lines] == [
        {"service": "screener-order-sign", "card": card["uuid"], "outcome": "overridden",
         "outcomeTimestamp": "2025-06-01T12:00:00Z", "comment_given": True,
         "overrideReason": {"system": "urn:screener:override-reason", "code": "will-monitor",
                            "display": "Will monitor the patient"}},
        {"service": "screener-order-sign", "card": card["uuid"], "outcome": "accepted",
         "outcomeTimestamp": "2025-06-01T12:01:00Z"}]
    assert all(line["received"].endswith("+00:00") for line in lines)
    assert "Zzmarker" not in path.read_text()


# --- errors -----------------------------------------------------------------------------------


def test_missing_prefetch_without_a_fhir_server_is_412(client):
    body = call(drafts=[draft()])
    del body["prefetch"]["conditions"]
    body["prefetch"]["allergies"] = None
    response = client.post(SIGN, json=body)
    assert response.status_code == 412
    assert response.json()["missing"] == ["conditions", "allergies"]
    del body["prefetch"]
    assert client.post(SIGN, json=body).status_code == 412


def test_fetching_can_be_turned_off(kb, keys):
    with SignedClient(make_app(kb, keys, fetch_fhir=False), keys) as c:
        body = call(drafts=[draft()])
        del body["prefetch"]
        body["fhirServer"] = "http://127.0.0.1:9/fhir"
        response = c.post(SIGN, json=body)
    assert response.status_code == 412
    assert "does not fetch" in response.json()["error"]


@pytest.mark.parametrize("mutate, status", [
    (lambda b: b.pop("context"), 422),
    (lambda b: b["context"].pop("patientId"), 422),
    (lambda b: b.update(hook="patient-view"), 400),
    (lambda b: b["context"].update(draftOrders={"resourceType": "Patient"}), 400),
    (lambda b: b["context"].update(draftOrders={"entry": "nope"}), 400),
    (lambda b: b["prefetch"].update(patient={"resourceType": "Patient", "id": "p2"}), 400),
    (lambda b: b["prefetch"].update(patient=[1, 2]), 422),
    (lambda b: b["prefetch"].update(conditions={"resourceType": "Bundle", "type": "searchset",
                                                "entry": [{"resource": {"resourceType": "Condition"}}]}), 400),
    (lambda b: b.update(hookInstance=""), 422),
])
def test_malformed_calls_are_4xx_never_500(client, mutate, status):
    body = call(drafts=[draft()])
    mutate(body)
    response = client.post(SIGN, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_bad_fhir_names_resource_and_field(client):
    bad = draft("d7", dosage=[{"timing": {"repeat": {"frequency": "often"}}}])
    response = client.post(SIGN, json=call(drafts=[bad]))
    assert response.status_code == 400
    data = response.json()
    assert (data["resource"], data["field"]) == ("MedicationRequest/d7", "dosageInstruction[0].timing.repeat.frequency")


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'"x"', b"[" * 100_000 + b"]" * 100_000,
                                 b'{"hook": "order-sign", "hookInstance": "x", "context": ' + b"[" * 50_000])
def test_garbage_bodies_are_4xx(client, raw):
    response = client.post(SIGN, content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500


def test_unknown_service_is_404(client):
    assert client.post("/cds-services/nope", json=call(drafts=[draft()])).status_code == 404


def test_body_size_is_capped(kb, keys):
    with SignedClient(make_app(kb, keys, max_body_bytes=2_000), keys) as c:
        response = c.post(SIGN, json=call(drafts=[draft(text="x" * 5_000, code=None)]))
        assert response.status_code == 413
        assert c.post(SIGN, json=call(drafts=[draft()])).status_code == 200


def test_rule_link_endpoint(client):
    response = client.get("/rules/carisoprodol+benzodiazepines")
    assert response.status_code == 200 and response.json()["severity"] == "major"
    assert client.get("/rules/nope").status_code == 404


def test_no_patient_data_in_logs(client, caplog):
    marker_med, marker_condition = "Zzmarkerdrug 10 mg", "Qqmarkercondition"
    body = call(drafts=[draft(text=marker_med, code=None)], conditions=[condition("c1", marker_condition)],
                meds=[XANAX])
    body["context"]["patientId"] = "p1"
    bad = call(drafts=[draft("d9", text=marker_med, code=None, dosage=[{"timing": {"repeat": {"frequency": "x"}}}])])
    with caplog.at_level(logging.DEBUG):
        assert client.post(SIGN, json=body).status_code == 200
        assert client.post(SIGN, json=bad).status_code == 400
        client.post(SIGN, content=json.dumps(body).replace('"p1"', '"p1"', 1) + "garbage",
                    headers={"Content-Type": "application/json"})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "service=screener-order-sign status=200" in logged
    for secret in (marker_med, marker_condition, "Xanax", "1990-01-01", "d9", "Practitioner/1"):
        assert secret not in logged


def test_cors_only_for_configured_origins(kb, keys):
    origin = "https://sandbox.cds-hooks.org"
    with SignedClient(make_app(kb, keys, cors_origins=(origin,)), keys) as c:
        allowed = c.options("/cds-services", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
        assert allowed.headers.get("access-control-allow-origin") == origin
        other = c.get("/cds-services", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_cards_name_the_local_layers_and_list_rules_a_layer_switched_off(tmp_path, keys):
    import screener
    from conftest import write_knowledge

    layer = write_knowledge(tmp_path / "ward", {"overrides.csv": [
        ["rule", "action", "severity", "reason", "source"],
        ["carisoprodol+benzodiazepines", "off", "", "screened by the ward team", "Ward P&T 2026-11"]]})
    with SignedClient(make_app(screener.load_knowledge(layers=[layer]), keys), keys) as client:
        cards = client.post(SIGN, json=call(drafts=[draft()], meds=[XANAX])).json()["cards"]
    suppressed = [c for c in cards if c["summary"].startswith("1 rule switched off")]
    assert len(suppressed) == 1 and suppressed[0]["indicator"] == "info"
    assert ("carisoprodol + alprazolam (rule carisoprodol+benzodiazepines): switched off by layer 'ward': "
            "screened by the ward team (Ward P&amp;T 2026-11)") in suppressed[0]["detail"]  # Markdown, HTML escaped
    assert all(c["source"]["label"].endswith("; local layers: ward") for c in cards)
    # The major rule is off; the more general CNS-depressant rule now applies, as in `check`.
    assert [c["summary"].split(":")[0] for c in cards if c is not suppressed[0]] == ["Moderate"]


def test_a_structured_draft_dose_is_screened_as_numbers(client):
    # 2 tablets of Soma 350 mg four times a day: the dose comes from doseQuantity and timing, not from text.
    cards = client.post(SIGN, json=call(drafts=[draft(text="Soma 350 MG Oral Tablet", code=None,
                                                      dosage=tablet_dose(4, tablets=2))])).json()["cards"]
    summaries = [c["summary"] for c in cards]
    assert any("carisoprodol 2,800 mg a day (limit 1,400 mg)" in s for s in summaries), summaries
    assert any("carisoprodol 700 mg per dose (limit 350 mg)" in s for s in summaries), summaries


# --- load -------------------------------------------------------------------------------------------


def test_too_many_resources_in_one_call_is_413_naming_the_cap(client):
    drafts = [draft(f"d{n}", text="Xanax 0.5 mg", code=None) for n in range(2_001)]
    response = client.post(SIGN, json=call(drafts=drafts))
    assert response.status_code == 413
    assert response.json() == {"error": "more than 2,000 resources in one call (the service's cap)"}


def test_too_many_entries_for_one_patient_is_413_naming_the_cap(client):
    statements = [statement(f"s{n}", "omeprazole 20 mg") for n in range(501)]
    response = client.post(SIGN, json=call(drafts=[draft()], statements=statements))
    assert response.status_code == 413
    assert response.json() == {"error": "more than 500 medications, conditions and allergies to screen for one "
                                        "patient (the service's cap)"}


def test_screening_runs_off_the_event_loop(kb, keys, monkeypatch):
    import asyncio
    import time as clock

    import httpx2

    app = make_app(kb, keys)
    order: list[str] = []
    real_screen = kb.screen

    def slow_screen(*args, **kw):
        clock.sleep(1.0)  # a long screen; on the event loop it would hold every other request
        order.append("screened")
        return real_screen(*args, **kw)

    monkeypatch.setattr(kb, "screen", slow_screen)

    async def both():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="https://cds.example.org") as c:
            token = keys.sign("https://cds.example.org" + SIGN)
            hook = asyncio.ensure_future(c.post(SIGN, json=call(drafts=[draft()], meds=[XANAX]),
                                                headers={"Authorization": f"Bearer {token}"}))
            await asyncio.sleep(0.3)
            discovery = await c.get("/cds-services")
            order.append(f"discovery {discovery.status_code}")
            assert (await hook).status_code == 200

    asyncio.run(both())
    assert order == ["discovery 200", "screened"]


def test_a_body_trickling_in_is_408(kb):
    import asyncio

    from screener.service.app import BodyLimit

    async def app(scope, receive, send):
        raise AssertionError("the app must not be reached")

    sent: list[dict] = []

    async def receive():
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": SIGN, "headers": []}
    asyncio.run(BodyLimit(app, max_bytes=1_000, seconds=0.3)(scope, receive, send))
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"error": "request body not received within 0.3 s"}


def test_cors_is_off_unless_configured(client):
    response = client.options("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org",
                                                        "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in response.headers
