"""The FastAPI app: routes, the body cap, and one hook call from request to cards."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import InputError
from ..fhir.model import FhirError
from ..fhir.read import bundle_resources, read_resources
from ..version import __version__
from .auth import Authenticator, AuthError, JwksFetcher, Trust
from .cards import CardMemory, build_cards, digest
from .fetch import Fetcher, next_link, quiet_http_logs
from .models import PREFETCH, SERVICES, Feedback, HookRequest

log = logging.getLogger("screener.service")

MEDICATIONS_NOT_READ = frozenset({"MedicationDispense", "MedicationAdministration"})
"""Resource types that record medications the patient has or is given, which the screener does not read:
any in a call makes the screen incomplete (a card says so), never silently "no findings"."""
MAX_RESOURCES_PER_CALL = 2_000
"""Resources (draft orders and prefetched record together) one call may hold: 413 above it."""
MAX_ENTRIES_PER_PATIENT = 500
"""Medications, conditions and allergies screened for one patient: 413 above it (screening grows with the
square of the entries; 500 is many times a real active record)."""
BODY_SECONDS = 10.0
"""A request body must arrive within this."""
MAX_BODY_BYTES = 1_000_000
"""Default request body cap (bytes): a draft order plus a patient's active record fits easily."""


class ServiceError(Exception):
    """A request the service answers with a 4xx and a one-line message."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class BodyLimit:
    """ASGI middleware: answer 413 to a request body over `max_bytes` (declared or streamed), and 408 to one
    not received in full within `seconds` (a client trickling bytes must not hold a connection open)."""

    def __init__(self, app, max_bytes: int, seconds: float = BODY_SECONDS):
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

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
        # Read the body here, bounded in size and time, and replay it: the app never sees more than max_bytes.
        chunks: list[bytes] = []
        total, more = 0, True
        try:
            async with asyncio.timeout(self.seconds):
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
        except TimeoutError:
            await _send_json(send, 408, {"error": f"request body not received within {self.seconds:g} s"})
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _send_json(send, status: int, payload: dict, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def needs_jwt(method: str, path: str) -> bool:
    """True for the calls an EHR must authenticate: a hook call and its feedback (`POST /cds-services/{id}...`).

    Discovery (`GET /cds-services`) and the rule pages list no patient data and stay open, so an
    administrator can register the service and a card's link can be followed.
    """
    return method == "POST" and path.startswith("/cds-services/")


class HostCheck:
    """ASGI middleware: refuse a request whose Host header is not one of the accepted names.

    This stops DNS rebinding: a web page whose name now resolves to the service's address
    still sends its own name as Host.
    """

    def __init__(self, app, hosts: tuple[str, ...]):
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.refusal = {"error": "Host header not accepted: this service answers to "
                                 f"{', '.join(sorted(self.hosts))} (the trust file's hosts, or loopback names "
                                 "when bound to loopback)"}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope.get("headers", ())).get(b"host", b"").decode("latin-1").lower()
            if host not in self.hosts and host.rpartition(":")[0] not in self.hosts:
                # 403, as the page answers a foreign Host too: the request is understood, and refused.
                await _send_json(send, 403, self.refusal)
                return
        await self.app(scope, receive, send)


class JwtCheck:
    """ASGI middleware: a hook call or feedback without a trusted JWT gets 401 and its one-line reason.

    It runs before the body is read, so an unauthenticated caller costs no parsing.
    """

    def __init__(self, app, authenticator: Authenticator):
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and needs_jwt(scope["method"], scope["path"]):
            authorization = dict(scope.get("headers", ())).get(b"authorization")
            try:
                caller = await self.authenticator.verify(
                    authorization.decode("latin-1") if authorization else None, scope["path"])
            except AuthError as exc:
                # The reason names the token's problem, never anything from the request body.
                log.info("service call refused: 401 %s", exc)
                await _send_json(send, 401, {"error": str(exc)},
                                 ((b"www-authenticate", b'Bearer error="invalid_token"'),))
                return
            scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def create_app(knowledge=None, *, trust: Trust | None = None, insecure_no_auth: bool = False,
               jwks_fetcher: JwksFetcher | None = None, allowed_hosts: tuple[str, ...] | None = None,
               fhir_transport: Any = None, max_body_bytes: int = MAX_BODY_BYTES, fetch_fhir: bool = True,
               today: date | None = None, cors_origins: tuple[str, ...] = (),
               feedback_file: str | Path | None = None) -> FastAPI:
    """The CDS Hooks app over `knowledge` (default: the bundled knowledge base).

    `trust` says which EHRs may call (`load_trust`): every hook call and
    feedback must carry a JWT one of them signed; without `trust` every such
    call is refused (401), unless `insecure_no_auth=True` (development only:
    no JWT is checked at all). `jwks_fetcher` replaces the HTTPS fetch of
    JWK Sets and `fhir_transport` (an httpx2 transport) the network for FHIR
    reads (tests). `allowed_hosts` are the Host header names accepted
    (default: the trust file's; None and no trust: not checked).
    `max_body_bytes` caps request bodies (413 above it). Missing prefetch is
    read only from a `fhirServer` under the trust's `fhir_servers`;
    `fetch_fhir=False` never reads one (missing prefetch is then always 412);
    `today` fixes the date ages and durations are counted to (tests);
    `cors_origins` (added to the trust file's) lets browser-based EHR
    sandboxes at those origins call the service; CORS is off without any.
    `feedback_file`: each feedback outcome is appended there as a JSON line
    (card uuid, outcome, override reason, times; no patient data); without
    it outcomes are only counted.
    """
    trust = trust or Trust()
    authenticator = None if insecure_no_auth else Authenticator(trust, jwks_fetcher)
    if allowed_hosts is None and trust.allowed_hosts:
        allowed_hosts = trust.allowed_hosts
    cors_origins = tuple(dict.fromkeys((*trust.cors_origins, *cors_origins)))
    if knowledge is None:
        from ..api import default_knowledge

        knowledge = default_knowledge()
    from ..fhir.read import READ_TYPES, model_class

    for resource_type in (*READ_TYPES, "Bundle", "Medication"):  # import the R4B models now, not on the first call
        model_class(resource_type)
    app = FastAPI(
        title="screener CDS Hooks service",
        version=__version__,
        description="Medication cautions for draft orders (CDS Hooks 2.0 order-select and order-sign).",
    )
    app.state.knowledge = knowledge
    app.state.seen = CardMemory()
    app.state.feedback = Counter()
    app.state.feedback_file = Path(feedback_file) if feedback_file else None
    app.state.feedback_lock = threading.Lock()
    app.state.fetch_fhir = fetch_fhir
    app.state.today = today
    app.state.trust = trust
    app.state.fetcher = Fetcher(trust.fhir_servers, fhir_transport)
    quiet_http_logs()
    app.state.authenticator = authenticator
    # Starlette runs the last-added middleware first: the Host check, CORS (so a preflight needs no
    # token and a 401 still carries CORS headers), the JWT, then the body cap.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if authenticator is not None:
        app.add_middleware(JwtCheck, authenticator=authenticator)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, hosts=allowed_hosts)

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

    async def call(service_id: str, body: HookRequest, request: Request):
        started = time.perf_counter()
        status, cards = 500, 0
        caller = request.scope.get("state", {}).get("caller")
        try:
            response = await _call(app, service_id, body, caller.iss if caller else "")
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
        if app.state.feedback_file is not None:
            lines = [feedback_line(service_id, item) for item in body.feedback]
            try:
                await run_in_threadpool(_append, app.state.feedback_file, app.state.feedback_lock, lines)
            except OSError as exc:
                log.error("feedback service=%s: the feedback file could not be written (%s)", service_id,
                          type(exc).__name__)
                return _error(503, "feedback could not be recorded; send it again later")
        log.info("feedback service=%s items=%d", service_id, len(body.feedback))
        return {}

    # One concrete path per service, so the OpenAPI schema (and a fuzzer reading it) names them.
    for service_id, service in SERVICES.items():
        def _bind(sid: str):
            async def hook_call(body: HookRequest, request: Request):
                return await call(sid, body, request)

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

    from ..web import mount_page

    mount_page(app, app.state.knowledge)  # the page at / and its API under /api/page/ (screener.web)
    return app


# --- one hook call ----------------------------------------------------------------------------


async def _call(app: FastAPI, service_id: str, body: HookRequest, issuer: str = "") -> dict:
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
    if len(resources) > MAX_RESOURCES_PER_CALL:  # before any FHIR read
        raise ServiceError(413, f"more than {MAX_RESOURCES_PER_CALL:,} resources in one call (the service's cap)")
    drafts = {_key(raw) for raw, *_ in resources}
    prefetch, gaps = await _complete_prefetch(app, body)
    for key in PREFETCH:
        value = prefetch[key]
        if value.get("resourceType") == "Bundle":
            for item in bundle_resources(value, require_type=False, where=f"prefetch.{key}"):
                if _key(item[0]) not in drafts:  # a draft order also saved in the record is screened once
                    resources.append(item)
        else:
            label = f"prefetch.{key}"
            resources.append((value, None, label if not isinstance(value.get("id"), str)
                              else f"{value.get('resourceType')}/{value['id']}", False))

    if len(resources) > MAX_RESOURCES_PER_CALL:
        raise ServiceError(413, f"more than {MAX_RESOURCES_PER_CALL:,} resources in one call (the service's cap); "
                                "send the patient's active record only")
    # Reading and screening are CPU work: in a worker thread, so discovery and other calls are answered meanwhile.
    pairs = await run_in_threadpool(_screen, app, resources, context, selections, gaps, body.hookInstance)
    memory: CardMemory = app.state.seen
    # A retry is the same service, hookInstance and request (tokens aside); a workflow is the same EHR,
    # FHIR server, patient, encounter and user (see CardMemory).
    call = digest(service_id, body.model_dump(mode="json", exclude={"fhirAuthorization"}))
    workflow = digest(issuer, body.fhirServer, context.patientId, context.encounterId, context.userId)
    return {"cards": memory.answer(call, workflow, service["hook"], pairs)}


def _screen(app: FastAPI, resources: list, context, selections: set[str] | None, gaps: list[tuple[str, str]],
            hook_instance: str) -> list[tuple[str, dict]]:
    """Read the resources, screen the patient and build the (key, card) pairs (runs in a worker thread)."""
    knowledge = app.state.knowledge
    inputs = read_resources(resources, knowledge, today=app.state.today, patient_id=context.patientId)
    if selections is not None:
        known = {item.reference for item in inputs.items if item.draft} | {
            f"{raw.get('resourceType')}/{raw.get('id')}" for raw, _, _, draft in resources if draft}
        unknown = sorted(s for s in selections if s not in known)
        if unknown:
            raise ServiceError(400, f"context.selections names orders not in context.draftOrders: "
                                    f"{', '.join(u[:80] for u in unknown[:5])}")
    if len(inputs.items) > MAX_ENTRIES_PER_PATIENT:
        raise ServiceError(413, f"more than {MAX_ENTRIES_PER_PATIENT:,} medications, conditions and allergies to "
                                "screen for one patient (the service's cap)")
    report = knowledge.screen(inputs.medications, inputs.conditions, inputs.allergies, inputs.age)
    gaps = gaps + [(f"{n} {rtype}", "holds medications the screener does not read, so they were not screened")
                   for rtype, n in inputs.ignored if rtype in MEDICATIONS_NOT_READ]
    return build_cards(report, inputs, hook_instance, selections, gaps=gaps)


def feedback_line(service_id: str, item) -> str:
    """One feedback outcome as a JSON line: card, outcome, override reason, times. The clinician's free-text
    comment is not kept (it may name the patient); only whether there was one."""
    reason = item.overrideReason.reason if item.overrideReason and item.overrideReason.reason else None
    out: dict[str, Any] = {"received": datetime.now(UTC).isoformat(timespec="seconds"), "service": service_id,
                           "card": item.card, "outcome": item.outcome, "outcomeTimestamp": item.outcomeTimestamp}
    if reason:
        out["overrideReason"] = {k: str(reason[k])[:200] for k in ("system", "code", "display") if reason.get(k)}
    if item.overrideReason and item.overrideReason.userComment:
        out["comment_given"] = True
    if item.acceptedSuggestions:
        out["acceptedSuggestions"] = [str(s.get("id"))[:200] for s in item.acceptedSuggestions if s.get("id")]
    return json.dumps(out, sort_keys=True)


def _append(path: Path, lock: threading.Lock, lines: list[str]) -> None:
    with lock, path.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def _unusable(value: dict | None) -> bool:
    """A prefetch value that holds no data: absent, null, or an OperationOutcome where the data should be."""
    return value is None or value.get("resourceType") == "OperationOutcome"


def searchset_shortfall(bundle: dict) -> str | None:
    """Why a searchset Bundle does not hold every match (more pages, fewer entries than `total`, an error outcome)."""
    if bundle.get("resourceType") != "Bundle":
        return None
    entries = [e for e in bundle.get("entry") or () if isinstance(e, dict)]
    for entry in entries:
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome" and any(
                isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in resource.get("issue") or ()):
            return "the FHIR server reported an error with this search"
    if next_link(bundle):
        return "the search has more pages than were sent"
    total = bundle.get("total")
    matches = sum(1 for e in entries if not isinstance(e.get("search"), dict) or e["search"].get("mode") == "match")
    if isinstance(total, int) and not isinstance(total, bool) and matches < total:
        return f"the search found {total} but {matches} were sent"
    return None


async def _complete_prefetch(app: FastAPI, body: HookRequest) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """Every prefetch key's value, fetching what is missing or paged; and (key, reason) for what is still short.

    A key with no data (absent, null, an OperationOutcome) that cannot be fetched is a 412: the screen
    cannot run without it. A searchset that is short (paged, or fewer entries than its total) is screened
    as far as it goes and reported in an "incomplete" card.
    """
    prefetch: dict[str, Any] = dict(body.prefetch or {})
    missing = [key for key in PREFETCH if _unusable(prefetch.get(key))]
    short = {key: prefetch[key] for key in PREFETCH if key not in missing and next_link(prefetch[key])}
    fetcher: Fetcher = app.state.fetcher
    reasons: dict[str, str] = {}
    can_fetch = app.state.fetch_fhir and fetcher.allows(body.fhirServer)
    if (missing or short) and can_fetch:
        token = body.fhirAuthorization.access_token if body.fhirAuthorization else None
        fetched, reasons = await fetcher.complete(body.fhirServer or "", token, body.context, missing, short)
        prefetch.update(fetched)
    still = [key for key in missing if _unusable(prefetch.get(key))]
    if still:
        if can_fetch:
            why = "; ".join(f"{key}: {reasons.get(key, 'not read')}" for key in still)
        elif not app.state.fetch_fhir:
            why = "this service does not fetch from FHIR servers"
        elif not body.fhirServer:
            why = "no FHIR server was given to fetch them from"
        else:
            why = "the request's fhirServer is not one this service may read (the trust file's fhir_servers)"
        raise ServiceError(412, f"prefetch missing: {', '.join(still)} ({why})", missing=still)
    gaps = []
    for key in PREFETCH:
        reason = reasons.get(key) or searchset_shortfall(prefetch[key])
        if reason:
            gaps.append((f"prefetch {key}", reason))
    return prefetch, gaps


def _key(raw: dict) -> str:
    rid = raw.get("id")
    return f"{raw.get('resourceType')}/{rid}" if isinstance(rid, str) else f"anonymous:{id(raw)}"
