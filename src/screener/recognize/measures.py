"""Conditions a chart writes as a measurement or a grade: weeks of gestation, kidney function, Child-Pugh class.

"pregnant 12 weeks", "eGFR 25" and "Child-Pugh B" name no condition, yet each says one exactly, on a
published scale. They are read by that scale, never by a resemblance of words:

- **Weeks of gestation** ("pregnant 12 weeks", "12 wks pregnant", "28 weeks gestation", "GA 30w", "IUP at 8
  weeks", "pregnant, 2nd trimester"): pregnancy, as ICD-10-CM codes it (Z3A.01-Z3A.49 "weeks of gestation of
  pregnancy"; a trimester is pregnancy by definition). A week outside 1-45 is unread.
- **Kidney function** ("eGFR 25", "GFR: 48 mL/min/1.73 m2", "CrCl 40 mL/min", "creatinine clearance < 30"):
  renal impairment under 90 mL/min, the KDIGO 2012 GFR categories G2-G5 (decreased, relative to the young adult
  level; Kidney Int Suppl 2013;3:1-150, Table 5), as CKD stage 2 (ICD-10-CM N18.2) already reads here; 90 or more
  (G1, normal or high) is recognised and meets no rule. A bound that does not say which side of 90 it is on
  ("eGFR > 30") is unread.
- **Child-Pugh class or score** ("Child-Pugh B", "Child Pugh class C", "Child-Pugh score 8"): hepatic impairment
  (cirrhosis when written "Child-Pugh B cirrhosis"),
  the grading the FDA's hepatic impairment guidance uses (Pugh RN et al., Br J Surg 1973;60:646-9: A 5-6 points,
  B 7-9, C 10-15). A score outside 5-15 is unread.

Each reading names the condition it stands for in words the knowledge base's own names give ("pregnant",
"renal impairment", "hepatic impairment") or its ICD-10-CM code, so a layer that renames a condition is followed.
See docs/knowledge-decisions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"(?P<value>\d+(?:\.\d+)?)"
_WEEKS = r"(?:weeks?|wks?|w)(?:\s*(?:\+\s*)?\d\s*(?:days?|d))?"
_GESTATION = re.compile(
    r"^\s*(?:(?:pregnant|pregnancy|iup|intrauterine pregnancy|gestation|gestational age|ga)\s*(?:[,:(\-]|at|of)?\s*"
    rf"(?P<a>\d{{1,2}})(?:\s*\+\s*\d)?\s*{_WEEKS}\s*(?:pregnant|gestation|ga|pregnancy|of gestation|gestational)?\)?"
    rf"|(?P<b>\d{{1,2}})(?:\s*\+\s*\d)?\s*{_WEEKS}['’]?\s*(?:pregnant|gestation|of gestation|ga|pregnancy|iup))\s*$",
    re.IGNORECASE)
"""Weeks of gestation, before or after the word that says pregnancy: "pregnant 12 weeks", "12 wks pregnant",
"28+3 weeks gestation", "GA 30w", "IUP at 8 weeks"."""

_TRIMESTER = re.compile(
    r"^\s*(?:(?:pregnant|pregnancy)\s*[,:(\-]?\s*(?:in\s+(?:the\s+|her\s+)?)?)?"
    r"(?P<which>first|second|third|1st|2nd|3rd)\s+trimester(?:\s+(?:pregnancy|of pregnancy))?\)?\s*$",
    re.IGNORECASE)
"""A trimester, alone or after the word that says pregnancy: "first trimester", "pregnant, 2nd trimester"."""

_KIDNEY = re.compile(
    r"^\s*(?P<test>e?gfr|estimated gfr|ckd-epi(?:\s+e?gfr)?|mdrd(?:\s+e?gfr)?|crcl|cr\s+cl|clcr|"
    r"creatinine clearance)\s*(?:of|is|was|=|:|~)?\s*(?P<bound><=|>=|<|>|≤|≥)?\s*" + _NUMBER +
    r"\s*(?:mls?\s*/\s*min(?:ute)?(?:\s*(?:/|per)\s*1\.73\s*m(?:2|²|\^2|\s*sq)?)?)?\s*$",
    re.IGNORECASE)
"""A kidney function result: "eGFR 25", "GFR: 48 mL/min/1.73 m2", "CrCl < 30 mL/min"."""

_CHILD_PUGH = re.compile(
    r"^\s*child[\s\-]*pugh(?:[\s\-]*turcotte)?\s*(?:class|grade|category|stage)?\s*[:=\-]?\s*"
    r"(?:(?P<grade>[abc])|score\s*(?:of|:|=)?\s*(?P<score>\d{1,2}))(?:\s+(?P<what>cirrhosis|liver disease))?\s*$",
    re.IGNORECASE)
"""A Child-Pugh class or score: "Child-Pugh B", "Child Pugh class C", "Child-Pugh score 8"."""

KIDNEY_NORMAL = 90.0
"""mL/min from which a kidney function is normal or high (KDIGO 2012 GFR category G1); under it, G2-G5."""


@dataclass(frozen=True)
class Measured:
    """What one measurement or grade says: a condition, written as words or a code to look up in the knowledge
    base (`as_written`), or, when it says none, what it was recognised as (`recognised_as`), or, when it
    cannot be read, why (`problem`). Exactly one of the three is set."""

    as_written: str = ""
    """A name or code the knowledge base reads as the condition ("renal impairment", "Z3A.12")."""
    recognised_as: str = ""
    """For a measurement that meets no condition: what it is ("a kidney function of 95 mL/min (90 or more: ...)")."""
    problem: str = ""
    """For a measurement that cannot be read: why."""


def read_measured(text: str) -> Measured | None:
    """What a condition written as a measurement or a grade says, or None when `text` is none of them."""
    if (match := _GESTATION.match(text)) is not None:
        return _gestation(int(match.group("a") or match.group("b")))
    if _TRIMESTER.match(text) is not None:
        return Measured(as_written="pregnant")
    if (match := _KIDNEY.match(text)) is not None:
        return _kidney(float(match.group("value")), match.group("bound") or "")
    if (match := _CHILD_PUGH.match(text)) is not None:
        return _child_pugh(match.group("score"), match.group("what"))
    return None


def _gestation(weeks: int) -> Measured:
    """Weeks of gestation as their ICD-10-CM code (Z3A.01 under 8 weeks, Z3A.08-Z3A.42, Z3A.49 over 42)."""
    if not 1 <= weeks <= 45:
        return Measured(problem=f"{weeks} weeks is not a week of a pregnancy (1 to 45); give 'pregnant' if she is")
    code = "Z3A.01" if weeks < 8 else "Z3A.49" if weeks > 42 else f"Z3A.{weeks:02d}"
    return Measured(as_written=code)


def _kidney(value: float, bound: str) -> Measured:
    """A kidney function in mL/min, read against `KIDNEY_NORMAL`; a bound only when it is on one side of it."""
    shown = f"{bound}{value:g} mL/min"
    if value > 250:
        return Measured(problem=f"{value:g} is not a kidney function in mL/min; give the eGFR or CrCl in mL/min")
    below: bool | None
    if bound in ("", "≤", "<="):
        below = value < KIDNEY_NORMAL if bound == "" or value < KIDNEY_NORMAL else None
    elif bound == "<":
        below = True if value <= KIDNEY_NORMAL else None
    else:  # ">", "≥", ">=": at or over the threshold, or it does not say
        below = False if value >= KIDNEY_NORMAL else None
    if below is None:
        return Measured(problem=f"{shown} does not say whether the kidney function is under {KIDNEY_NORMAL:g} "
                                "mL/min (renal impairment); give the value")
    if below:
        return Measured(as_written="renal impairment")
    return Measured(recognised_as=f"a kidney function of {shown} ({KIDNEY_NORMAL:g} or more: normal or high, "
                                  "KDIGO 2012 G1; not renal impairment)")


def _child_pugh(score: str | None, what: str | None) -> Measured:
    """Any Child-Pugh class, A to C, or a score of 5 to 15: hepatic impairment, or cirrhosis when the text says
    so ("Child-Pugh B cirrhosis")."""
    if score is not None and not 5 <= int(score) <= 15:
        return Measured(problem=f"a Child-Pugh score of {score} is outside the scale (5 to 15)")
    return Measured(as_written="cirrhosis" if what and what.lower() == "cirrhosis" else "hepatic impairment")
