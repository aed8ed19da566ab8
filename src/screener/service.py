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

from __future__ import annotations

import html
import json
import logging
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter, OrderedDict
from datetime import date
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from .errors import InputError
from .fhir.model import FhirError, FhirInputs
from .fhir.read import bundle_resources, read_resources
from .fhir.write import ACT_CODE, ACT_CODE_DISPLAY, source_url, v3_code
from .model import Finding, Report, Severity
from .version import __version__

log = logging.getLogger("screener.service")

MAX_BODY_BYTES = 1_000_000
"""Default request body cap (bytes): a draft order plus a patient's active record fits easily."""
SUMMARY_LIMIT = 139
"""Card summaries are kept under 140 characters (CDS Hooks)."""
SEEN_LIMIT = 10_000
SEEN_TTL_SECONDS = 3600.0
FETCH_TIMEOUT_SECONDS = 5.0

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&status=active",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}&clinical-status=active",
}
"""Prefetch templates (CDS Hooks): the patient and their active medications, conditions and allergies."""

SERVICES: dict[str, dict[str, Any]] = {
    "screener-order-select": {
        "hook": "order-select",
        "id": "screener-order-select",
        "title": "screener: medication cautions for the selected orders",
        "description": ("Screens the selected draft medication orders against the patient's active medications, "
                        "conditions, allergies and age: interactions, duplicates, dose, duration, pregnancy, "
                        "lactation, hepatic and renal impairment, age and allergy cautions, each with its source."),
        "prefetch": PREFETCH,
    },
    "screener-order-sign": {
        "hook": "order-sign",
        "id": "screener-order-sign",
        "title": "screener: medication cautions before signing",
        "description": ("Screens every draft medication order against the patient's active record before signing; "
                        "cards already shown for the same hook instance are not repeated."),
        "prefetch": PREFETCH,
    },
}

INDICATOR = {
    Severity.CONTRAINDICATED: "critical",
    Severity.MAJOR: "warning",
    Severity.MODERATE: "warning",
    Severity.MINOR: "info",
}

OVERRIDE_SYSTEM = "urn:screener:override-reason"
OVERRIDE_REASONS = [
    {"system": OVERRIDE_SYSTEM, "code": "benefit-outweighs-risk", "display": "Benefit outweighs risk"},
    {"system": OVERRIDE_SYSTEM, "code": "will-monitor", "display": "Will monitor the patient"},
    {"system": OVERRIDE_SYSTEM, "code": "previously-tolerated", "display": "Patient has tolerated this before"},
    {"system": OVERRIDE_SYSTEM, "code": "not-taking", "display": "Patient is not taking the other medication"},
    {"system": OVERRIDE_SYSTEM, "code": "record-incorrect", "display": "The record is incorrect"},
]


# --- request models ---------------------------------------------------------------------------


class FhirAuthorization(BaseModel):
    """The OAuth token the EHR grants for its FHIR server (CDS Hooks `fhirAuthorization`)."""

    model_config = ConfigDict(extra="allow")
    access_token: str = Field(max_length=10_000)
    token_type: str = "Bearer"


class HookContext(BaseModel):
    """`context` of order-select and order-sign."""

    model_config = ConfigDict(extra="allow")
    userId: str | None = Field(default=None, max_length=1000)
    patientId: str = Field(min_length=1, max_length=200)
    encounterId: str | None = Field(default=None, max_length=1000)
    selections: list[str] | None = None
    draftOrders: dict[str, Any]


def _searchset(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


EXAMPLE_CALL: dict[str, Any] = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/example",
        "patientId": "example",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
            "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/example"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "2101"}], "text": "carisoprodol 350 MG Oral Tablet"},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]}}]},
    },
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "example", "birthDate": "1970-01-01"},
        "medicationRequests": _searchset({
            "resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/example"}, "medicationCodeableConcept": {"text": "Xanax 0.5 mg"}}),
        "medicationStatements": _searchset(),
        "conditions": _searchset(),
        "allergies": _searchset(),
    },
}
"""An order-sign call: carisoprodol ordered for a patient on alprazolam (the OpenAPI example)."""


class HookRequest(BaseModel):
    """A CDS Hooks service call."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_CALL]})
    hook: str = Field(min_length=1, max_length=200)
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = Field(default=None, max_length=2000)
    fhirAuthorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, dict[str, Any] | None] | None = None


class OverrideReason(BaseModel):
    """Why a clinician overrode a card."""

    model_config = ConfigDict(extra="allow")
    reason: dict[str, Any] | None = None
    userComment: str | None = Field(default=None, max_length=10_000)


class FeedbackItem(BaseModel):
    """One card's outcome."""

    model_config = ConfigDict(extra="allow")
    card: str = Field(min_length=1, max_length=200)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(min_length=1, max_length=100)


class Feedback(BaseModel):
    """A feedback call."""

    model_config = ConfigDict(extra="allow")
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=1000)


# --- responses ----------------------------------------------------------------------------------


class ServiceError(Exception):
    """A request the service answers with a 4xx and a one-line message."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class SeenCards:
    """Which cards each hook instance has already shown: bounded in entries and time."""

    def __init__(self, limit: int = SEEN_LIMIT, ttl: float = SEEN_TTL_SECONDS):
        self.limit = limit
        self.ttl = ttl
        self._seen: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()

    def get(self, hook_instance: str) -> set[str]:
        """The card keys shown for `hook_instance` (an empty set once expired)."""
        hit = self._seen.get(hook_instance)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return set()
        return hit[1]

    def add(self, hook_instance: str, keys: set[str]) -> None:
        """Remember `keys` as shown for `hook_instance`."""
        keys = self.get(hook_instance) | keys
        self._seen[hook_instance] = (time.monotonic(), keys)
        self._seen.move_to_end(hook_instance)
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)


# --- the app --------------------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: answer 413 to a request body over `max_bytes` (declared or streamed)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, {"error": "Content-Length is not a number"})
                    return
                if declared > self.max_bytes:
                    await _send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes"})
                    return
        # Read the body here, bounded, and replay it: the app never sees more than max_bytes.
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                await _send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes"})
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(knowledge=None, *, max_body_bytes: int = MAX_BODY_BYTES, fetch_fhir: bool = True,
               today: date | None = None, cors_origins: tuple[str, ...] = ()) -> FastAPI:
    """The CDS Hooks app over `knowledge` (default: the bundled knowledge base).

    `max_body_bytes` caps request bodies (413 above it); `fetch_fhir=False`
    never reads the EHR's FHIR server (missing prefetch is then always 412);
    `today` fixes the date ages and durations are counted to (tests);
    `cors_origins` lets browser-based EHR sandboxes at those origins call the
    service (CDS Hooks services SHOULD support CORS).
    """
    if knowledge is None:
        from .api import default_knowledge

        knowledge = default_knowledge()
    from .fhir.read import READ_TYPES, model_class

    for resource_type in (*READ_TYPES, "Bundle", "Medication"):  # import the R4B models now, not on the first call
        model_class(resource_type)
    app = FastAPI(
        title="screener CDS Hooks service",
        version=__version__,
        description="Medication cautions for draft orders (CDS Hooks 2.0 order-select and order-sign).",
    )
    app.state.knowledge = knowledge
    app.state.seen = SeenCards()
    app.state.feedback = Counter()
    app.state.fetch_fhir = fetch_fhir
    app.state.today = today
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The problems name fields only; the offending values are not echoed back (or logged).
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "invalid")}
                    for e in exc.errors()[:20]]
        return _error(422, "the request is not a valid CDS Hooks call", problems=problems)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        return _error(400, "the request is nested too deeply")

    @app.get("/cds-services")
    async def discovery() -> dict:
        """CDS Hooks discovery: the services and their prefetch templates."""
        return {"services": list(SERVICES.values())}

    async def call(service_id: str, body: HookRequest):
        started = time.perf_counter()
        status, cards = 500, 0
        try:
            response = await _call(app, service_id, body)
            status, cards = 200, len(response["cards"])
            return JSONResponse(response)  # plain JSON data already: skip FastAPI's re-encoding
        except ServiceError as exc:
            status = exc.status
            return _error(exc.status, exc.message, **exc.extra)
        except FhirError as exc:
            status = 400
            return _error(400, str(exc), resource=exc.resource, field=exc.field)
        except InputError as exc:
            status = 400
            return _error(400, str(exc))
        except Exception as exc:  # never a traceback in the logs: messages may quote patient data
            log.error("service %s: internal error %s", service_id[:60], type(exc).__name__)
            return _error(500, "internal error")
        finally:
            log.info("service=%s status=%d cards=%d ms=%.1f", service_id[:60], status, cards,
                     (time.perf_counter() - started) * 1000)

    async def feedback(service_id: str, body: Feedback):
        for item in body.feedback:
            app.state.feedback[(service_id, item.outcome)] += 1
        log.info("feedback service=%s items=%d", service_id, len(body.feedback))
        return {}

    # One concrete path per service, so the OpenAPI schema (and a fuzzer reading it) names them.
    for service_id, service in SERVICES.items():
        def _bind(sid: str):
            async def hook_call(body: HookRequest):
                return await call(sid, body)

            async def hook_feedback(body: Feedback):
                return await feedback(sid, body)

            return hook_call, hook_feedback  # noqa: B023 - bound by _bind's own argument, not the loop

        hook_call, hook_feedback = _bind(service_id)
        app.post(f"/cds-services/{service_id}", summary=service["title"], description=service["description"],
                 operation_id=f"call_{service_id.replace('-', '_')}")(hook_call)
        app.post(f"/cds-services/{service_id}/feedback", summary=f"Card feedback for {service_id}",
                 operation_id=f"feedback_{service_id.replace('-', '_')}")(hook_feedback)

    @app.post("/cds-services/{service_id}", include_in_schema=False)
    @app.post("/cds-services/{service_id}/feedback", include_in_schema=False)
    async def unknown_service(service_id: str):
        return _error(404, f"no service '{service_id[:60]}'; see GET /cds-services")

    @app.get("/rules/{rule_id}")
    async def rule(rule_id: str):
        """A rule of the knowledge base: what a card's link points to when its source has no public page."""
        found = app.state.knowledge.index.rules.get(rule_id)
        if found is None:
            return _error(404, f"no rule '{rule_id[:80]}'")
        return {
            "id": found.id, "kind": found.kind.value, "severity": found.severity.value,
            "concepts": list(found.operands), "target": found.target, "summary": found.summary,
            "mechanism": found.mechanism, "advice": found.advice, "plain": found.plain,
            "evidence": found.evidence, "source": found.source, "codes": dict(found.codes),
            "knowledge_version": app.state.knowledge.version,
        }

    from .web import mount_page

    mount_page(app, knowledge)  # the page at / and its API under /api/page/ (screener.web)
    return app


# --- one hook call ----------------------------------------------------------------------------


async def _call(app: FastAPI, service_id: str, body: HookRequest) -> dict:
    service = SERVICES.get(service_id)
    if service is None:
        raise ServiceError(404, f"no service '{service_id[:60]}'; see GET /cds-services")
    if body.hook != service["hook"]:
        raise ServiceError(400, f"service {service_id} answers the {service['hook']} hook, not {body.hook[:60]}")
    context = body.context
    selections = None
    if service["hook"] == "order-select":
        if not context.selections:
            raise ServiceError(400, "order-select needs context.selections (the orders the user selected)")
        selections = set(context.selections)

    resources = bundle_resources(context.draftOrders, require_type=False, draft=True, where="context.draftOrders")
    drafts = {_key(raw) for raw, *_ in resources}
    prefetch = dict(body.prefetch or {})
    missing = [key for key in PREFETCH if prefetch.get(key) is None]
    if missing and body.fhirServer and app.state.fetch_fhir:
        fetched = await run_in_threadpool(_fetch_all, body, missing)
        prefetch.update(fetched)
        missing = [key for key in missing if key not in fetched]
    if missing:
        why = ("the FHIR server could not be read for them" if body.fhirServer and app.state.fetch_fhir
               else "no FHIR server was given to fetch them from" if app.state.fetch_fhir
               else "this service does not fetch from FHIR servers")
        raise ServiceError(412, f"prefetch missing: {', '.join(missing)} ({why})", missing=missing)
    for key in PREFETCH:
        value = prefetch[key]
        assert value is not None  # a missing key was fetched or answered 412 above
        if value.get("resourceType") == "Bundle":
            for item in bundle_resources(value, require_type=False, where=f"prefetch.{key}"):
                if _key(item[0]) not in drafts:  # a draft order also saved in the record is screened once
                    resources.append(item)
        else:
            label = f"prefetch.{key}"
            resources.append((value, None, label if not isinstance(value.get("id"), str)
                              else f"{value.get('resourceType')}/{value['id']}", False))

    knowledge = app.state.knowledge
    inputs = read_resources(resources, knowledge, today=app.state.today, patient_id=context.patientId)
    if selections is not None:
        known = {item.reference for item in inputs.items if item.draft} | {
            f"{raw.get('resourceType')}/{raw.get('id')}" for raw, _, _, draft in resources if draft}
        unknown = sorted(s for s in selections if s not in known)
        if unknown:
            raise ServiceError(400, f"context.selections names orders not in context.draftOrders: "
                                    f"{', '.join(u[:80] for u in unknown[:5])}")
    report = knowledge.screen(inputs.medications, inputs.conditions, inputs.allergies, inputs.age)
    pairs = build_cards(report, inputs, body.hookInstance, selections)
    seen: SeenCards = app.state.seen
    already = seen.get(body.hookInstance) if service["hook"] == "order-sign" else set()
    cards = [card for key, card in pairs if key not in already]
    seen.add(body.hookInstance, {key for key, _ in pairs})
    return {"cards": cards}


def _key(raw: dict) -> str:
    rid = raw.get("id")
    return f"{raw.get('resourceType')}/{rid}" if isinstance(rid, str) else f"anonymous:{id(raw)}"


def _fetch_all(body: HookRequest, keys: list[str]) -> dict[str, dict]:
    """Read missing prefetch keys from the EHR's FHIR server; keys that fail are left out."""
    base = body.fhirServer or ""
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        return {}
    token = body.fhirAuthorization.access_token if body.fhirAuthorization else None
    out = {}
    for key in keys:
        path = _render_template(PREFETCH[key], body.context)
        try:
            out[key] = _fetch(base, path, token)
        except Exception as exc:
            log.warning("prefetch %s: FHIR server read failed (%s)", key, type(exc).__name__)
    return out


def _render_template(template: str, context: HookContext) -> str:
    values = {"patientId": context.patientId, "userId": context.userId or "", "encounterId": context.encounterId or ""}
    for name, value in values.items():
        template = template.replace(f"{{{{context.{name}}}}}", urllib.parse.quote(value, safe=""))
    return template


def _fetch(base: str, path: str, token: str | None, max_bytes: int = 10 * MAX_BODY_BYTES) -> dict:
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base.rstrip("/") + "/" + path, headers=headers)
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
        data = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError("response too large")
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


# --- cards ---------------------------------------------------------------------------------------


def card_key(finding: Finding, inputs: FhirInputs) -> str:
    """What makes two cards the same: the rule, the concepts and the resources involved."""
    refs = sorted(inputs.implicated(finding)) or sorted(finding.inputs)
    return "|".join([finding.rule_id, ",".join(sorted(finding.concepts)), ",".join(refs)])


def build_cards(report: Report, inputs: FhirInputs, hook_instance: str,
                selections: set[str] | None = None) -> list[tuple[str, dict]]:
    """(key, card) for each finding that involves a draft order (a selected one, for order-select),
    plus one card when inputs were not recognised."""
    out = []
    # The knowledge as cards name it: its version, and the local layers over it when there are any.
    version = report.knowledge_version + (f"; local layers: {', '.join(report.layers)}" if report.layers else "")
    for finding in report.findings:
        if not inputs.involves_draft(finding, selections):
            continue
        key = card_key(finding, inputs)
        out.append((key, finding_card(finding, version, inputs, _uuid(hook_instance, key))))

    def concerns_order(texts) -> bool:
        return any(not item.draft or selections is None or item.reference in selections
                   for text in texts for item in inputs.items_for(text))

    unread = [u for u in report.unrecognized if concerns_order([u.input])]
    if unread:
        key = "incomplete|" + ",".join(sorted(f"{u.field}:{u.input}" for u in unread))
        out.append((key, incomplete_card(unread, inputs, version, _uuid(hook_instance, key))))
    suppressed = [off for off in report.suppressed if concerns_order(off.inputs)]
    if suppressed:
        key = "suppressed|" + ",".join(sorted(f"{off.rule_id}:{'+'.join(off.inputs)}" for off in suppressed))
        out.append((key, suppressed_card(suppressed, version, _uuid(hook_instance, key))))
    return out


def _uuid(hook_instance: str, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"screener:{hook_instance}:{key}"))


def _summary(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip() + "…"


def _md(text: str) -> str:
    """Text safe inside Markdown: no HTML, no emphasis or code markers from the data."""
    return html.escape(text, quote=False).replace("*", "\\*").replace("_", "\\_").replace("`", "\\`")


def finding_card(finding: Finding, version: str, inputs: FhirInputs, card_uuid: str) -> dict:
    """One finding as a CDS Hooks card."""
    from .formats.text_format import path_text

    code = v3_code(finding)
    url = source_url(finding.sources)
    source: dict[str, Any] = {"label": f"screener knowledge {version}"}
    if url:
        source["url"] = url
    if code:
        source["topic"] = {"system": ACT_CODE, "code": code, "display": ACT_CODE_DISPLAY.get(code, code)}
    where = [f"{_md(text)} ({', '.join(inputs.references(text)) or 'context'})" for text in finding.inputs]
    lines = [f"**{finding.severity.value.capitalize()} · {_md(finding.kind.value)}:** {_md(finding.summary)}"]
    if finding.mechanism:
        lines.append(f"**Why:** {_md(finding.mechanism)}")
    lines += [
        f"**Path:** {_md(path_text(finding))}",
        f"**Do:** {_md(finding.advice)}",
        f"**For the patient:** {_md(finding.plain)}",
        f"**From:** {'; '.join(where)}",
        f"**Source:** {_md('; '.join(finding.sources))} (rule {_md(finding.rule_id)}, knowledge {_md(version)})",
    ]
    card: dict[str, Any] = {
        "uuid": card_uuid,
        "summary": _summary(f"{finding.severity.value.capitalize()}: {finding.title}: {finding.summary}"),
        "indicator": INDICATOR[finding.severity],
        "source": source,
        "detail": "\n\n".join(lines),
        "overrideReasons": OVERRIDE_REASONS,
    }
    if url:
        card["links"] = [{"label": "Source (label or publication)", "url": url, "type": "absolute"}]
    return card


def suppressed_card(suppressed, version: str, card_uuid: str) -> dict:
    """One card listing rules a local knowledge layer switched off that would have applied."""
    lines = ["A local knowledge layer switched off these rules; they would otherwise have applied:"]
    for off in suppressed:
        lines.append(f"- {off.severity.value} {_md(off.kind.value)}: {_md(off.title)} (rule {_md(off.rule_id)}): "
                     f"switched off by layer '{_md(off.layer)}': {_md(off.reason)}")
    n = len(suppressed)
    return {
        "uuid": card_uuid,
        "summary": _summary(f"{n} rule{'s' if n != 1 else ''} switched off by local policy would have applied"),
        "indicator": "info",
        "source": {"label": f"screener knowledge {version}"},
        "detail": "\n".join(lines),
    }


def incomplete_card(unread, inputs: FhirInputs, version: str, card_uuid: str) -> dict:
    """One card listing inputs that were not recognised: the screen is incomplete."""
    draft = any(item.draft for u in unread for item in inputs.items_for(u.input))
    lines = ["Not screened, so cautions involving these may be missing:"]
    for u in unread:
        refs = ", ".join(inputs.references(u.input)) or "context"
        hint = f" Did you mean: {', '.join(u.suggestions)}?" if u.suggestions else ""
        lines.append(f"- {u.field} \"{_md(u.input)}\" ({_md(refs)}): {_md(u.reason)}.{_md(hint)}")
    n = len(unread)
    return {
        "uuid": card_uuid,
        "summary": _summary(f"Screen incomplete: {n} item{'s' if n != 1 else ''} not recognised or not checked"
                            + (" (including a draft order)" if draft else "")),
        "indicator": "warning" if draft else "info",
        "source": {"label": f"screener knowledge {version}"},
        "detail": "\n".join(lines),
    }
