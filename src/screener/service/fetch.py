"""Reading missing prefetch from the EHR's FHIR server, in a way that cannot be turned against the network.

- Only a `fhirServer` under one of the trust file's `fhir_servers` (same scheme,
  host and port, and path prefix) is read: no other host, port or loopback
  service can be reached through the service.
- Redirects are never followed: the bearer token would go with them.
- One deadline for the whole call (`deadline_seconds`), the keys fetched in
  parallel, and a byte budget for everything read in the call.
- A searchset's `next` links are followed up to `max_pages` pages, and only
  while they stay under the same `fhirServer`; beyond that the data is marked
  incomplete (never silently short).
- An error status, an OperationOutcome, or anything that is not the expected
  resource counts as not read, with a one-line reason.

Reasons and logs name the prefetch key and the kind of failure only: the URLs
hold the patient's id, so they are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

from .models import PREFETCH, HookContext

log = logging.getLogger("screener.service")

DEADLINE_SECONDS = 8.0
"""All FHIR reads of one hook call finish within this (EHRs stop waiting for a CDS service after a few seconds)."""
MAX_FETCH_BYTES = 10_000_000
"""Bytes read from the FHIR server in one hook call, all keys and pages together."""
MAX_PAGES = 10
"""Searchset pages read per prefetch key (the first and nine `next` pages)."""


def quiet_http_logs() -> None:
    """Keep the HTTP client's own request lines out of the logs: they print each URL, and FHIR URLs
    hold the patient's id (`MedicationRequest?patient=...`)."""
    for name in ("httpx2", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)


class FetchFailed(Exception):
    """One prefetch key could not be read; the message is the one-line reason (no URL, no patient data)."""


def allowed_base(fhir_server: str, allowed: tuple[str, ...]) -> bool:
    """True when `fhir_server` lies under one of the `allowed` base URLs (scheme, host, port and path prefix)."""
    target = _normal(fhir_server)
    return target is not None and any(
        (base := _normal(a)) is not None and target[0] == base[0] and (target[1] + "/").startswith(base[1] + "/")
        for a in allowed)


def _normal(url: str) -> tuple[str, str] | None:
    """(scheme://host:port, /path without trailing slash), or None for what is not a plain http(s) URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}", parts.path.rstrip("/")


def render_template(template: str, context: HookContext) -> str:
    """A prefetch template with the context's ids filled in (URL-quoted)."""
    values = {"patientId": context.patientId, "userId": context.userId or "", "encounterId": context.encounterId or ""}
    for name, value in values.items():
        template = template.replace(f"{{{{context.{name}}}}}", urllib.parse.quote(value, safe=""))
    return template


def next_link(bundle: dict) -> str | None:
    """A Bundle's `next` link, when it has one."""
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


@dataclass
class _Budget:
    left: int


@dataclass
class Fetcher:
    """Reads prefetch keys from allowed FHIR servers (one per app; `transport` replaces the network in tests)."""

    allowed: tuple[str, ...] = ()
    """Base URLs a `fhirServer` must lie under."""
    transport: Any = None
    """An httpx2 async transport (tests: `httpx2.MockTransport`); None: the network."""
    deadline_seconds: float = DEADLINE_SECONDS
    max_bytes: int = MAX_FETCH_BYTES
    max_pages: int = MAX_PAGES

    def allows(self, fhir_server: str | None) -> bool:
        """True when the service may read from `fhir_server`."""
        return bool(fhir_server) and allowed_base(fhir_server or "", self.allowed)

    async def complete(self, fhir_server: str, token: str | None, context: HookContext, missing: list[str],
                       paged: dict[str, dict]) -> tuple[dict[str, dict], dict[str, str]]:
        """Fetch the `missing` keys and the further pages of the `paged` searchsets, in parallel, by one deadline.

        Returns (values read, with paged Bundles merged into one; reasons for the keys that could not be read
        in full). A paged key that fails keeps the pages it had: the caller marks the screen incomplete.
        """
        import httpx2

        budget = _Budget(self.max_bytes)
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        base = fhir_server.rstrip("/")
        async with httpx2.AsyncClient(transport=self.transport, follow_redirects=False, headers=headers,
                                      timeout=self.deadline_seconds, trust_env=False) as client:
            jobs: dict[str, Any] = {}
            for key in missing:
                url = base + "/" + render_template(PREFETCH[key], context)
                jobs[key] = asyncio.ensure_future(self._read(client, base, url, key, budget, None))
            for key, bundle in paged.items():
                jobs[key] = asyncio.ensure_future(self._read(client, base, None, key, budget, bundle))
            pending: set = set()
            if jobs:
                _, pending = await asyncio.wait(jobs.values(), timeout=self.deadline_seconds)
            for job in pending:
                job.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        values: dict[str, dict] = {}
        reasons: dict[str, str] = {}
        for key, job in jobs.items():
            if job in pending:
                reasons[key] = f"the FHIR server did not answer within {self.deadline_seconds:g} s"
            elif isinstance(job.exception(), FetchFailed):
                reasons[key] = str(job.exception())
            elif job.exception() is not None:
                reasons[key] = f"the FHIR server could not be read ({type(job.exception()).__name__})"
            else:
                value, reason = job.result()
                values[key] = value
                if reason:
                    reasons[key] = reason
        for key, reason in reasons.items():
            log.warning("prefetch %s: not read in full (%s)", key, reason.split(" (")[0][:80])
        return values, reasons

    async def _read(self, client, base: str, url: str | None, key: str, budget: _Budget,
                    first: dict | None) -> tuple[dict, str | None]:
        """One key: the resource, or the searchset with its pages merged; and why it is short, if it is."""
        doc = first if first is not None else await self._get(client, url or "", key, budget)
        if doc.get("resourceType") != "Bundle":
            return doc, None
        entries = list(doc.get("entry") or [])
        pages = 1
        link = next_link(doc)
        while link:
            if pages >= self.max_pages:
                return _merged(doc, entries), f"more than {self.max_pages} pages of results; only those were read"
            if not allowed_base(link, (base,)):
                return _merged(doc, entries), "a next page lies outside the FHIR server; it was not read"
            page = await self._get(client, link, key, budget)
            if page.get("resourceType") != "Bundle":
                raise FetchFailed(f"page {pages + 1} is not a Bundle")
            entries += list(page.get("entry") or [])
            pages += 1
            link = next_link(page)
        return _merged(doc, entries), None

    async def _get(self, client, url: str, key: str, budget: _Budget) -> dict:
        async with client.stream("GET", url) as response:
            if 300 <= response.status_code < 400:
                raise FetchFailed(f"the FHIR server redirected (HTTP {response.status_code}); redirects are not "
                                  "followed, as the token would go with them")
            if response.status_code != 200:
                raise FetchFailed(f"the FHIR server answered HTTP {response.status_code}")
            chunks = []
            async for chunk in response.aiter_bytes():
                budget.left -= len(chunk)
                if budget.left < 0:
                    raise FetchFailed(f"the FHIR server sent more than {self.max_bytes:,} bytes")
                chunks.append(chunk)
        try:
            doc = json.loads(b"".join(chunks))
        except (ValueError, RecursionError):
            raise FetchFailed("the FHIR server did not send JSON") from None
        if not isinstance(doc, dict):
            raise FetchFailed("the FHIR server did not send a JSON object")
        if doc.get("resourceType") == "OperationOutcome":
            raise FetchFailed("the FHIR server answered an OperationOutcome instead of the data")
        return doc


def _merged(first: dict, entries: list) -> dict:
    """The first page with every page's entries and no paging links (all of it was read)."""
    out = {k: v for k, v in first.items() if k != "link"}
    out["entry"] = entries
    return out
