"""Missing prefetch read from the EHR's FHIR server: only allowed servers, no redirects, one deadline,
a byte budget, paging to a cap; and data that could not be read is never an empty answer."""

from __future__ import annotations

import asyncio
import logging

import httpx2
import pytest

from cds_auth import FHIR_SERVER, JWKS_URL, FakeJwks, Keys, SignedClient, trust
from fhir_fixtures import TODAY, bundle, patient, request
from screener.service import create_app
from screener.service.fetch import allowed_base

SIGN = "/cds-services/screener-order-sign"
XANAX = request("m1", "Xanax 0.5 mg")
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]}


def searchset(*resources, **extra):
    return {**bundle(*resources, kind="searchset"), **extra}


class Ehr:
    """A FHIR server behind httpx2.MockTransport: answers by path, records (url, Authorization) of each read."""

    def __init__(self, answers: dict | None = None, delay: float = 0.0):
        self.answers = answers or {}
        self.delay = delay
        self.seen: list[tuple[str, str | None]] = []

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append((str(request.url), request.headers.get("authorization")))
        if self.delay:
            await asyncio.sleep(self.delay)
        path = request.url.path.removeprefix("/r4/")
        answer = self.answers.get(str(request.url), self.answers.get(path))
        if isinstance(answer, httpx2.Response):
            return answer
        if answer is None:
            answer = patient("p1", "1990-01-01") if path.startswith("Patient/") else searchset()
        return httpx2.Response(200, json=answer)


@pytest.fixture(scope="module")
def keys():
    return Keys()


def client_for(kb, keys, ehr: Ehr, **kw):
    app = create_app(kb, today=TODAY, trust=trust(), jwks_fetcher=FakeJwks({JWKS_URL: keys.jwks()}),
                     fhir_transport=httpx2.MockTransport(ehr), **kw)
    return SignedClient(app, keys)


def call(prefetch: dict | None = None, fhir_server: str | None = FHIR_SERVER) -> dict:
    draft = request("d1", "carisoprodol 350 mg qid", status="draft")
    body: dict = {"hook": "order-sign", "hookInstance": "h1",
                  "context": {"userId": "Practitioner/1", "patientId": "p1",
                              "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "cds"}
    return body


def full_prefetch(**overrides) -> dict:
    values = {"patient": patient("p1", "1990-01-01"), "medicationRequests": searchset(XANAX),
              "medicationStatements": searchset(), "conditions": searchset(), "allergies": searchset()}
    return {**values, **overrides}


def alprazolam(response) -> bool:
    return any("alprazolam" in c["summary"] for c in response.json()["cards"])


def test_missing_prefetch_is_read_in_parallel_with_the_token(kb, keys):
    ehr = Ehr({"MedicationRequest": searchset(XANAX)})
    with client_for(kb, keys, ehr) as c:
        response = c.post(SIGN, json=call())
    assert response.status_code == 200, response.text
    assert alprazolam(response)
    assert (f"{FHIR_SERVER}/MedicationRequest?patient=p1&status=active", "Bearer secret-token") in ehr.seen
    assert len(ehr.seen) == 5


@pytest.mark.parametrize("server", ["http://127.0.0.1:9/fhir", "https://fhir.example.org/other",
                                    "https://fhir.example.org.evil.example/r4", "https://fhir.example.org:8443/r4",
                                    "http://fhir.example.org/r4", "https://user@fhir.example.org/r4", "file:///etc"])
def test_a_fhir_server_not_on_the_allow_list_is_never_read(kb, keys, server):
    ehr = Ehr()
    with client_for(kb, keys, ehr) as c:
        response = c.post(SIGN, json=call(fhir_server=server))
    assert response.status_code == 412
    assert response.json()["error"] == (
        "prefetch missing: patient, medicationRequests, medicationStatements, conditions, allergies (the request's "
        "fhirServer is not one this service may read (the trust file's fhir_servers))")
    assert ehr.seen == []


def test_allowed_base_matches_origin_and_path_prefix():
    assert allowed_base("https://fhir.example.org/r4/", ("https://fhir.example.org/r4",))
    assert allowed_base("https://FHIR.example.org:443/r4/tenant", ("https://fhir.example.org/r4",))
    assert not allowed_base("https://fhir.example.org/r4x", ("https://fhir.example.org/r4",))


def test_a_redirect_is_not_followed_so_the_token_stays_put(kb, keys):
    leak = "https://capture.example/fhir/MedicationRequest"
    ehr = Ehr({"MedicationRequest": httpx2.Response(302, headers={"Location": leak})})
    with client_for(kb, keys, ehr) as c:
        response = c.post(SIGN, json=call())
    assert response.status_code == 412
    assert response.json()["error"] == (
        "prefetch missing: medicationRequests (medicationRequests: the FHIR server redirected (HTTP 302); redirects "
        "are not followed, as the token would go with them)")
    assert not any(url.startswith("https://capture.example") for url, _ in ehr.seen)


def test_an_operation_outcome_in_prefetch_is_fetched_again(kb, keys):
    ehr = Ehr({"MedicationRequest": searchset(XANAX)})
    with client_for(kb, keys, ehr) as c:
        response = c.post(SIGN, json=call(full_prefetch(medicationRequests=OUTCOME)))
    assert response.status_code == 200
    assert alprazolam(response)
    assert [url for url, _ in ehr.seen] == [f"{FHIR_SERVER}/MedicationRequest?patient=p1&status=active"]


def test_an_operation_outcome_that_cannot_be_fetched_again_is_412_never_no_cards(kb, keys):
    with client_for(kb, keys, Ehr()) as c:
        response = c.post(SIGN, json=call(full_prefetch(medicationRequests=OUTCOME, conditions=OUTCOME),
                                          fhir_server=None))
        assert response.status_code == 412
        assert response.json() == {"error": "prefetch missing: medicationRequests, conditions (no FHIR server was "
                                            "given to fetch them from)", "missing": ["medicationRequests", "conditions"]}
        answered = c.post(SIGN, json=call(full_prefetch(), fhir_server=None))
        assert answered.status_code == 200 and alprazolam(answered)


def test_the_fhir_server_answering_an_error_or_outcome_is_412(kb, keys):
    ehr = Ehr({"MedicationRequest": OUTCOME, "Condition": httpx2.Response(403, json=OUTCOME)})
    with client_for(kb, keys, ehr) as c:
        response = c.post(SIGN, json=call())
    assert response.status_code == 412
    assert response.json()["missing"] == ["medicationRequests", "conditions"]
    assert "medicationRequests: the FHIR server answered an OperationOutcome instead of the data" in \
        response.json()["error"]
    assert "conditions: the FHIR server answered HTTP 403" in response.json()["error"]


def test_searchset_pages_are_followed(kb, keys):
    page2 = f"{FHIR_SERVER}/MedicationRequest?page=2"
    first = searchset(request("m0", "omeprazole 20 mg"), link=[{"relation": "next", "url": page2}])
    ehr = Ehr({page2: searchset(XANAX)})
    with client_for(kb, keys, ehr) as c:
        response = c.post(SIGN, json=call(full_prefetch(medicationRequests=first)))
    assert response.status_code == 200
    assert alprazolam(response)
    assert not any(c["summary"].startswith("Screen incomplete") for c in response.json()["cards"])
    assert [url for url, _ in ehr.seen] == [page2]


def incomplete(response) -> dict:
    assert response.status_code == 200, response.text
    cards = [c for c in response.json()["cards"] if c["summary"].startswith("Screen incomplete")]
    assert len(cards) == 1
    assert cards[0]["indicator"] == "warning"
    return cards[0]


def test_paging_beyond_the_cap_makes_the_screen_incomplete(kb, keys):
    def page(n):
        return searchset(link=[{"relation": "next", "url": f"{FHIR_SERVER}/MedicationRequest?page={n + 1}"}])
    ehr = Ehr({f"{FHIR_SERVER}/MedicationRequest?page={n}": page(n) for n in range(2, 30)})
    with client_for(kb, keys, ehr) as c:
        card = incomplete(c.post(SIGN, json=call(full_prefetch(medicationRequests=page(1)))))
    assert "- prefetch medicationRequests: more than 10 pages of results; only those were read." in card["detail"]
    assert card["summary"] == "Screen incomplete: 1 item not recognised or not checked (the record was not read in full)"
    assert len(ehr.seen) == 9


def test_a_paged_searchset_without_a_fhir_server_is_screened_and_marked_incomplete(kb, keys):
    paged = searchset(XANAX, link=[{"relation": "next", "url": f"{FHIR_SERVER}/MedicationRequest?page=2"}])
    with client_for(kb, keys, Ehr()) as c:
        response = c.post(SIGN, json=call(full_prefetch(medicationRequests=paged), fhir_server=None))
    assert alprazolam(response)
    assert "- prefetch medicationRequests: the search has more pages than were sent." in incomplete(response)["detail"]


def test_a_next_link_off_the_fhir_server_is_not_followed(kb, keys):
    paged = searchset(XANAX, link=[{"relation": "next", "url": "https://capture.example/r4/MedicationRequest"}])
    ehr = Ehr()
    with client_for(kb, keys, ehr) as c:
        card = incomplete(c.post(SIGN, json=call(full_prefetch(medicationRequests=paged))))
    assert "a next page lies outside the FHIR server; it was not read" in card["detail"]
    assert ehr.seen == []


@pytest.mark.parametrize("bundle_extra, reason", [
    ({"total": 250}, "the search found 250 but 1 were sent"),
    ({"entry": [{"resource": XANAX, "search": {"mode": "match"}},
                {"resource": OUTCOME, "search": {"mode": "outcome"}}]}, "the FHIR server reported an error with this search"),
])
def test_a_searchset_short_of_its_matches_is_incomplete(kb, keys, bundle_extra, reason):
    with client_for(kb, keys, Ehr()) as c:
        response = c.post(SIGN, json=call(full_prefetch(medicationRequests=searchset(XANAX, **bundle_extra)),
                                          fhir_server=None))
    assert alprazolam(response)
    assert f"- prefetch medicationRequests: {reason}." in incomplete(response)["detail"]


def test_one_deadline_for_the_whole_call(kb, keys):
    ehr = Ehr(delay=30)
    with client_for(kb, keys, ehr) as c:
        c.app.state.fetcher.deadline_seconds = 0.3
        response = c.post(SIGN, json=call())
    assert response.status_code == 412
    assert "patient: the FHIR server did not answer within 0.3 s" in response.json()["error"]
    assert len(ehr.seen) == 5  # all five were asked at once, not one after another


def test_the_bytes_read_are_capped(kb, keys):
    huge = searchset(*[request(f"m{n}", "omeprazole 20 mg " + "x" * 500) for n in range(100)])
    with client_for(kb, keys, Ehr({"MedicationRequest": huge})) as c:
        c.app.state.fetcher.max_bytes = 20_000
        response = c.post(SIGN, json=call())
    assert response.status_code == 412
    assert "medicationRequests: the FHIR server sent more than 20,000 bytes" in response.json()["error"]


def test_fetch_errors_log_no_patient_data(kb, keys, caplog):
    ehr = Ehr({"MedicationRequest": httpx2.Response(500), "Condition": OUTCOME})
    with caplog.at_level(logging.DEBUG), client_for(kb, keys, ehr) as c:
        body = call()
        body["context"]["patientId"] = "Zzmarkerpatient"
        c.post(SIGN, json=body)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "prefetch medicationRequests: not read in full" in logged
    for secret in ("Zzmarkerpatient", "fhir.example.org", "secret-token"):
        assert secret not in logged
