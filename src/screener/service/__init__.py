"""A CDS Hooks 2.0 service: screen draft medication orders inside an EHR's prescribing workflow.

    from screener.service import create_app, load_trust
    app = create_app(trust=load_trust("trust.toml"))   # FastAPI app; `screener serve` runs it under uvicorn

Where things are
- `auth.py`    the trust file and the EHR's JWT (CDS Hooks "Trusting CDS Clients");
- `fetch.py`   reading missing prefetch from allowed FHIR servers;
- `cards.py`   cards from a report, and the memory that tells a retry from a later hook;
- `models.py`  the request shapes, prefetch templates and the two services;
- `app.py`     the FastAPI app, its middleware (Host check, JWT, body cap) and one hook call.

Endpoints
- `GET  /cds-services`                discovery: an `order-select` and an `order-sign`
                                      service, each with prefetch templates for the patient,
                                      active medication requests and statements, conditions
                                      and allergies;
- `POST /cds-services/{id}`           screen `context.draftOrders` against the prefetched
                                      record and answer `{"cards": [...]}` (`{"cards": []}`
                                      when there is nothing to say);
- `POST /cds-services/{id}/feedback`  accepted (outcomes are counted, nothing else is kept);
- `GET  /rules/{rule_id}`             the rule behind a card (its link when the source
                                      names no public page).

Behaviour
- Hook calls and feedback need a JWT from an EHR the trust names (401 with a
  one-line reason otherwise); discovery and rule pages do not.
- order-select warns only about findings that involve a *selected* order;
  order-sign about findings that involve any draft order. A retried call (same
  service, `hookInstance` and request) gets the same cards; order-sign does not
  repeat a non-critical card order-select showed in the same workflow (EHR,
  FHIR server, patient, encounter, user). See `cards.CardMemory`.
- A card per finding: summary under 140 characters, indicator (contraindicated
  → critical; major, moderate → warning; minor → info), source label with the
  knowledge version and a link, Markdown detail with the path and advice,
  overrideReasons. Inputs that were not recognised, record data that could not
  be read in full (a paged or short searchset) and medications in resources the
  screener does not read (MedicationDispense, MedicationAdministration) get one
  card saying the screen is incomplete: no card means nothing was found only
  when everything was read. Resources of another patient are refused (400).
- Missing prefetch (absent, null, or an OperationOutcome): fetched from an
  allowed `fhirServer` (with the bearer token in `fhirAuthorization`; see
  `fetch.py`), else 412 naming the missing keys.
- Malformed requests get 400 (bad FHIR: the message names the resource and the
  field) or 422 (not the CDS Hooks shape), never a 500; bodies over the size cap
  get 413. Logs carry the service id, status, card count and time only: never
  patient data, request bodies or error messages (which may quote them).
"""


from .app import MAX_BODY_BYTES, ServiceError, create_app
from .auth import Issuer, Trust, TrustError, load_trust
from .cards import SUMMARY_LIMIT, build_cards, card_key, finding_card, incomplete_card, suppressed_card
from .models import EXAMPLE_CALL, PREFETCH, SERVICES, Feedback, HookRequest

__all__ = ["EXAMPLE_CALL", "MAX_BODY_BYTES", "PREFETCH", "SERVICES", "SUMMARY_LIMIT", "Feedback", "HookRequest",
           "Issuer", "ServiceError", "Trust", "TrustError", "build_cards", "card_key", "create_app", "finding_card",
           "incomplete_card", "load_trust", "suppressed_card"]
