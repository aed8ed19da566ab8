"""The page's routes: the page and its assets, its JSON API, and the OpenAPI docs from local assets.

Routes (all relative, so the app also works under a proxy's path prefix)
- `GET  /`                     the page (HTML; its CSS and JS at `/page/…`);
- `GET  /api/page/info`        the knowledge version and scope; 401 when a token is needed and missing;
- `POST /api/page/login`       `{"token": "…"}`: sets the session cookie (token access only);
- `POST /api/page/suggest`     `{"kind": "medication"|"condition"|"allergy", "q": "xan"}`: names that
                               complete what was typed, and what `check` reads the text as so far;
- `POST /api/page/screen`      `{"medications": [...], "conditions": [...], "allergies": [...], "age": "70"}`:
                               the report (`Report.to_dict()`, the JSON contract of `check --format json`)
                               plus display lines (paths, what was read, the patient's lines);
- `GET  /docs`                 Swagger UI for the service's OpenAPI document, from the vendored
                               `swagger-ui-dist` in `static/swagger-ui/` (no CDN); `/redoc`, which only
                               loads from a CDN, is removed.

Patient data travels in request bodies only, never in a URL (URLs end up in access and proxy logs), and
nothing a person typed is logged: the log lines carry counts, status and time.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError
from ..model import Report
from .access import COOKIE, Access, PagePolicy, host_name, is_loopback

log = logging.getLogger("screener.web")

MAX_ENTRIES = 100
"""Most entries in each list of one screen request."""

ASSETS = {
    "page/page.css": "text/css; charset=utf-8",
    "page/page.js": "text/javascript; charset=utf-8",
    "page/favicon.svg": "image/svg+xml",
}
"""The page's assets, by the path they are served at (the same path under `static/`)."""
DOCS_ASSETS = {
    "docs/swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
    "docs/swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "docs/favicon-32x32.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "docs/docs.js": ("docs.js", "text/javascript; charset=utf-8"),
}
"""The docs page's assets: served path → (file under `static/`, media type)."""

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
"""The page loads nothing but its own files: a CDN or an injected script would be refused by the browser."""
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
"""Swagger UI sets inline styles and data: images; it too loads only this server's files."""


class ScreenRequest(BaseModel):
    """One patient, as typed into the page."""

    model_config = ConfigDict(extra="forbid")
    medications: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    conditions: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    allergies: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    age: str | float | None = None


class SuggestRequest(BaseModel):
    """What has been typed so far into one input."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern="^(medication|condition|allergy)$")
    q: str = Field(max_length=200)


class LoginRequest(BaseModel):
    """The page's sign-in."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=1000)


class PageProblem(Exception):
    """A page request answered with a 4xx and one line."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@lru_cache(maxsize=16)
def static_bytes(name: str) -> bytes:
    """A file shipped in `screener/web/static/` (package data)."""
    return (resources.files("screener.web") / "static" / name).read_bytes()


def mount_routes(app: FastAPI, knowledge, policy: PagePolicy) -> None:
    """Add the page, its API and the local docs to `app` (see the module docstring)."""
    app.state.page_policy = policy
    _local_docs(app)

    def current() -> PagePolicy:
        return app.state.page_policy

    def gate(request: Request, api: bool) -> Response | None:
        """The response that refuses `request`, or None when it may go on."""
        policy = current()
        if policy.access is Access.OFF:
            return _json(404, {"error": policy.off_reason}) if api else _text(404, policy.off_reason)
        if policy.access is Access.OPEN and not is_loopback(host_name(request.headers.get("host", ""))):
            message = "the page answers only to a loopback host name (localhost, 127.0.0.1, [::1])"
            return _json(403, {"error": message}) if api else _text(403, message)
        if api and not policy.allows(request.headers.get("authorization"), request.cookies.get(COOKIE)):
            return _json(401, {"error": "sign in: this page needs its access token", "signin": True})
        return None

    @app.get("/", include_in_schema=False)
    async def page(request: Request):
        refused = gate(request, api=False)
        if refused is not None:
            return refused
        return _asset(static_bytes("index.html"), "text/html; charset=utf-8", PAGE_CSP)

    def serve_asset(path: str, name: str, media_type: str, csp: str, gated: bool):
        async def asset(request: Request):
            refused = gate(request, api=False) if gated else None
            return refused if refused is not None else _asset(static_bytes(name), media_type, csp)

        app.get(f"/{path}", include_in_schema=False)(asset)

    for path, media_type in ASSETS.items():
        serve_asset(path, path.split("/", 1)[1], media_type, PAGE_CSP, gated=True)
    for path, (name, media_type) in DOCS_ASSETS.items():
        serve_asset(path, name, media_type, DOCS_CSP, gated=False)

    @app.get("/api/page/info", include_in_schema=False)
    async def info(request: Request):
        refused = gate(request, api=True)
        if refused is not None:
            return refused
        return _json(200, {"knowledge_version": knowledge.version, "access": current().access.value,
                           "scope": _scope(knowledge)})

    @app.post("/api/page/login", include_in_schema=False)
    async def login(request: Request):
        policy = current()
        refused = gate(request, api=True)
        if refused is not None and policy.access is not Access.TOKEN:
            return refused
        if policy.access is not Access.TOKEN:
            return _json(400, {"error": "this page needs no sign-in"})
        try:
            body = LoginRequest.model_validate(await _body(request))
        except PageProblem as exc:
            return _json(exc.status, {"error": exc.message})
        except ValidationError:
            return _json(422, {"error": "send {\"token\": \"…\"}"})
        if not policy.signs_in(body.token):
            log.info("page login refused")
            return _json(401, {"error": "that is not this page's access token", "signin": True})
        response = _json(200, {"signed_in": True})
        response.set_cookie(COOKIE, policy.session(), httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    @app.post("/api/page/suggest", include_in_schema=False)
    async def suggest(request: Request):
        refused = gate(request, api=True)
        if refused is not None:
            return refused
        try:
            body = SuggestRequest.model_validate(await _body(request))
        except PageProblem as exc:
            return _json(exc.status, {"error": exc.message})
        except ValidationError as exc:
            return _json(422, _invalid(exc, "send {\"kind\": \"medication\"|\"condition\"|\"allergy\", \"q\": \"…\"}"))
        try:
            return _json(200, await run_in_threadpool(suggestions, knowledge, body.kind, body.q))
        except Exception as exc:  # never a traceback in the logs: messages may quote what was typed
            log.error("page suggest: internal error %s", type(exc).__name__)
            return _json(500, {"error": "internal error"})

    @app.post("/api/page/screen", include_in_schema=False)
    async def screen(request: Request):
        started = time.perf_counter()
        refused = gate(request, api=True)
        if refused is not None:
            return refused
        status, counts = 500, ""
        try:
            body = ScreenRequest.model_validate(await _body(request))
            report = await run_in_threadpool(_screen, knowledge, body)
            status = 200
            counts = f" findings={len(report.findings)} incomplete={len(report.unrecognized)}"
            return _json(200, page_report(report))
        except PageProblem as exc:
            status = exc.status
            return _json(exc.status, {"error": exc.message, **({"field": exc.field} if exc.field else {})})
        except ValidationError as exc:
            status = 422
            return _json(422, _invalid(exc, "send {\"medications\": [...], \"conditions\": [...], "
                                            "\"allergies\": [...], \"age\": …}"))
        except Exception as exc:  # never a traceback in the logs: messages may quote what was typed
            log.error("page screen: internal error %s", type(exc).__name__)
            return _json(500, {"error": "internal error"})
        finally:
            log.info("page screen status=%d%s ms=%.1f", status, counts, (time.perf_counter() - started) * 1000)


def _local_docs(app: FastAPI) -> None:
    """Serve `/docs` from the vendored Swagger UI instead of FastAPI's CDN page; drop the CDN-only `/redoc`."""
    cdn_pages = {app.docs_url, app.redoc_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in cdn_pages]
    app.redoc_url = None
    app.docs_url = "/docs"

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return _asset(static_bytes("docs.html"), "text/html; charset=utf-8", DOCS_CSP)


def _scope(knowledge) -> dict[str, list[str]]:
    drugs, conditions = knowledge.index.scope
    return {"drugs": list(drugs), "conditions": list(conditions)}


async def _body(request: Request) -> Any:
    """The JSON body: only `application/json` (a cross-site form cannot send it without asking first)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise PageProblem(415, "send the request as application/json")
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):
        raise PageProblem(400, "the request body is not valid JSON") from None


def _invalid(exc: ValidationError, hint: str) -> dict:
    # The problems name fields only; the values typed are not echoed back (or logged).
    problems = [{"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "invalid")}
                for e in exc.errors()[:20]]
    return {"error": f"not a valid page request: {hint}", "problems": problems}


def _screen(knowledge, body: ScreenRequest) -> Report:
    from ..rules.age import parse_age

    if not any(text.strip() for text in body.medications):
        raise PageProblem(400, "give at least one medication to screen", field="medications")
    try:
        age = parse_age(body.age)
    except InputError as exc:
        raise PageProblem(400, str(exc), field="age") from None
    try:
        return knowledge.screen(body.medications, body.conditions, body.allergies, age)
    except InputError as exc:
        raise PageProblem(400, str(exc)) from None


def page_report(report: Report) -> dict[str, Any]:
    """What the page shows: the report contract (`report`), and lines the page would otherwise rebuild.

    - `paths`: each finding's path as the text report writes it (same order as `report.findings`);
    - `screened`: what each entry was read as, one line each ({"field", "input", "read"});
    - `patient`: the plain-language lines for the patient (the findings' then the counselling points'),
      each once, for the print view.
    """
    from ..formats.text_format import path_text

    screened = []
    for med in report.medications:
        if med.concept is None:
            continue
        detail = ", ".join(med.ingredients)
        if reading := med.reading():
            detail += f"; {reading}"
        if med.assumed:
            detail += f" (read as {med.assumed}, {med.via}: check it)"
        screened.append({"field": "medication", "input": med.input, "read": detail})
    screened += [{"field": "condition", "input": text, "read": concept} for text, concept in report.conditions]
    screened += [{"field": "allergy", "input": text, "read": concept} for text, concept in report.allergies]
    screened += [{"field": n.field, "input": n.input, "read": n.text} for n in report.noted]
    patient: list[str] = []
    for line in [f.plain for f in report.findings] + [c.text for c in report.counselling]:
        if line and line not in patient:
            patient.append(line)
    return {
        "report": report.to_dict(),
        "paths": [path_text(f) for f in report.findings],
        "screened": screened,
        "patient": patient,
    }


def suggestions(knowledge, kind: str, text: str) -> dict[str, Any]:
    """Completions for what has been typed into a `kind` input, and what `check` reads it as so far.

    `reading` is {"state": "read"|"problem"|"none", "text": …, "suggestions": […]}: "read" with what
    the entry was recognised as; "problem" when `check` would report it (not recognised, dosing not
    read, not covered), with its reason; "none" for blank text.
    """
    from ..recognize import complete_name, display_name

    completions = list(complete_name(knowledge.index, text, kind))
    if not text.strip():
        return {"completions": completions, "reading": {"state": "none", "text": "", "suggestions": []}}
    lists: dict[str, list[str]] = {"medication": [], "condition": [], "allergy": []}
    lists[kind] = [text]
    try:
        report = knowledge.screen(lists["medication"], lists["condition"], lists["allergy"])
    except InputError as exc:
        return {"completions": completions, "reading": {"state": "problem", "text": str(exc), "suggestions": []}}
    if report.unrecognized:
        problem = report.unrecognized[0]
        return {"completions": completions, "reading": {"state": "problem", "text": problem.reason,
                                                        "suggestions": list(problem.suggestions)}}
    def name(cid: str) -> str:
        return display_name(knowledge.index, cid)

    if kind == "medication":
        med = report.medications[0]
        read = " + ".join(name(i) for i in med.ingredients)
        if reading := med.reading():
            read += f"; {reading}"
        if med.assumed:
            read += f" (read as {med.assumed}: check it)"
    elif report.noted:
        read = report.noted[0].text
    elif kind == "condition" and report.conditions:
        read = name(report.conditions[0][1])
    elif kind == "allergy" and report.allergies:
        read = name(report.allergies[0][1])
    else:
        read = "no known allergies: nothing to screen"
    return {"completions": completions, "reading": {"state": "read", "text": read, "suggestions": []}}


def _json(status: int, payload: dict) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers={"Cache-Control": "no-store",
                                                              "X-Content-Type-Options": "nosniff"})


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def _asset(body: bytes, media_type: str, csp: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    })
