"""Reading missing prefetch from the EHR's FHIR server."""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request

from .models import PREFETCH, HookContext, HookRequest

log = logging.getLogger("screener.service")

FETCH_TIMEOUT_SECONDS = 5.0
MAX_FETCH_BYTES = 10_000_000


def fetch_all(body: HookRequest, keys: list[str]) -> dict[str, dict]:
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


def _fetch(base: str, path: str, token: str | None, max_bytes: int = MAX_FETCH_BYTES) -> dict:
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
