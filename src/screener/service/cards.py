"""CDS Hooks cards from a screener report: one card per finding, plus "incomplete" and "switched off" cards."""

from __future__ import annotations

import hashlib
import html
import json
import time
import uuid
from collections import OrderedDict
from typing import Any

from ..fhir.model import FhirInputs
from ..fhir.write import ACT_CODE, ACT_CODE_DISPLAY, source_url, v3_code
from ..model import Finding, Report, Severity

SUMMARY_LIMIT = 139
"""Card summaries are kept under 140 characters (CDS Hooks)."""
SEEN_LIMIT = 10_000
SEEN_TTL_SECONDS = 3600.0

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


class CardMemory:
    """What the service remembers between calls, so a retry gets the same cards and order-sign does not
    repeat what order-select showed. In memory, bounded in entries and time; keys are SHA-256 digests,
    so no patient id or drug name is held in the clear.

    - A *retry* is the same service called with the same `hookInstance` and the same request (hook,
      context, prefetch, fhirServer; not the tokens, which an EHR renews): it gets exactly the cards of
      the first call, so a lost or timed-out answer is never replaced by `{"cards": []}`.
    - A *later hook in the same workflow* is an order-sign call, under another `hookInstance`, for the
      same EHR, FHIR server, patient, encounter and user as an earlier order-select: a card that
      order-select already showed (same rule, concepts and resources) is not repeated, except a
      critical one, which is always shown.
    """

    def __init__(self, limit: int = SEEN_LIMIT, ttl: float = SEEN_TTL_SECONDS):
        self.limit = limit
        self.ttl = ttl
        self._calls: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._selected: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()

    def _get(self, table: OrderedDict, key: str) -> frozenset[str] | None:
        hit = table.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def _put(self, table: OrderedDict, key: str, value: frozenset[str]) -> None:
        table[key] = (time.monotonic(), value)
        table.move_to_end(key)
        while len(table) > self.limit:
            table.popitem(last=False)

    def answer(self, call: str, workflow: str, hook: str, cards: list[tuple[str, dict]]) -> list[dict]:
        """The cards to return for one call (`call` and `workflow` are digests: see `digest`)."""
        suppressed = self._get(self._calls, call)
        if suppressed is None:
            shown = self._get(self._selected, workflow) or frozenset() if hook == "order-sign" else frozenset()
            suppressed = frozenset(key for key, card in cards if key in shown and card["indicator"] != "critical")
            self._put(self._calls, call, suppressed)
        if hook == "order-select":
            self._put(self._selected, workflow,
                      (self._get(self._selected, workflow) or frozenset()) | {key for key, _ in cards})
        return [card for key, card in cards if key not in suppressed]

    def __len__(self) -> int:
        return len(self._calls)


def digest(*parts: Any) -> str:
    """A SHA-256 digest of JSON-ready parts (what the card memory keys on instead of the data itself)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def card_key(finding: Finding, inputs: FhirInputs) -> str:
    """What makes two cards the same: the rule, the concepts and the resources involved."""
    refs = sorted(inputs.implicated(finding)) or sorted(finding.inputs)
    return "|".join([finding.rule_id, ",".join(sorted(finding.concepts)), ",".join(refs)])


def build_cards(report: Report, inputs: FhirInputs, hook_instance: str, selections: set[str] | None = None,
                gaps: list[tuple[str, str]] | None = None) -> list[tuple[str, dict]]:
    """(key, card) for each finding that involves a draft order (a selected one, for order-select),
    plus one "incomplete" card when inputs were not recognised or `gaps` — (what, why) for data the
    screen could not read — are given."""
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
    gaps = list(gaps or ())
    if unread or gaps:
        key = "incomplete|" + ",".join(sorted(f"{u.field}:{u.input}" for u in unread)
                                       + sorted(f"{what}:{why}" for what, why in gaps))
        out.append((key, incomplete_card(unread, inputs, version, _uuid(hook_instance, key), gaps)))
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
    from ..formats.text_format import path_text

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


def incomplete_card(unread, inputs: FhirInputs, version: str, card_uuid: str,
                    gaps: list[tuple[str, str]] | None = None) -> dict:
    """One card listing inputs that were not recognised and record data that could not be read:
    the screen is incomplete. Missing record data is a warning, as a caution with the draft may be missing."""
    gaps = list(gaps or ())
    draft = any(item.draft for u in unread for item in inputs.items_for(u.input))
    lines = ["Not screened, so cautions involving these may be missing:"]
    for u in unread:
        refs = ", ".join(inputs.references(u.input)) or "context"
        hint = f" Did you mean: {', '.join(u.suggestions)}?" if u.suggestions else ""
        lines.append(f"- {u.field} \"{_md(u.input)}\" ({_md(refs)}): {_md(u.reason)}.{_md(hint)}")
    for what, why in gaps:
        lines.append(f"- {_md(what)}: {_md(why)}.")
    n = len(unread) + len(gaps)
    return {
        "uuid": card_uuid,
        "summary": _summary(f"Screen incomplete: {n} item{'s' if n != 1 else ''} not recognised or not checked"
                            + (" (including a draft order)" if draft else "")
                            + (" (the record was not read in full)" if gaps else "")),
        "indicator": "warning" if draft or gaps else "info",
        "source": {"label": f"screener knowledge {version}"},
        "detail": "\n".join(lines),
    }
