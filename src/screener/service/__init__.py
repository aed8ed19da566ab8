"""A CDS Hooks 2.0 service: screen draft medication orders inside an EHR's prescribing workflow.

    from screener.service import create_app
    app = create_app()              # FastAPI app; `screener serve` runs it under uvicorn

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
- order-select warns only about findings that involve a *selected* order;
  order-sign about findings that involve any draft order, and never repeats a
  card already returned for the same `hookInstance` (by order-select or an
  earlier order-sign call; remembered in memory, bounded, for an hour).
- A card per finding: summary under 140 characters, indicator (contraindicated
  → critical; major, moderate → warning; minor → info), source label with the
  knowledge version and a link, Markdown detail with the path and advice,
  overrideReasons. Inputs that were not recognised get one card saying the
  screen is incomplete: no card never means "safe" unless everything was read.
- Missing prefetch: fetched from `fhirServer` (with the bearer token in
  `fhirAuthorization`) when the request names one and fetching is enabled,
  else 412 naming the missing keys.
- Malformed requests get 400 (bad FHIR: the message names the resource and the
  field) or 422 (not the CDS Hooks shape), never a 500; bodies over the size cap
  get 413. Logs carry the service id, status, card count and time only: never
  patient data, request bodies or error messages (which may quote them).
"""


from .app import MAX_BODY_BYTES, ServiceError, create_app
from .cards import SUMMARY_LIMIT, build_cards, card_key, finding_card, incomplete_card, suppressed_card
from .models import EXAMPLE_CALL, PREFETCH, SERVICES, Feedback, HookRequest

__all__ = ["EXAMPLE_CALL", "MAX_BODY_BYTES", "PREFETCH", "SERVICES", "SUMMARY_LIMIT", "Feedback", "HookRequest",
           "ServiceError", "build_cards", "card_key", "create_app", "finding_card", "incomplete_card",
           "suppressed_card"]
