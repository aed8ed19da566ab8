"""Conditions a chart writes as a measurement or a grade: weeks of gestation, kidney function, Child-Pugh class.

"pregnant 12 weeks", "eGFR 25" and "Child-Pugh B" name no condition, yet each says one exactly, on a
published scale. They are read by that scale, never by a resemblance of words:

- **Weeks of gestation** with a word for pregnancy ("pregnant 12 weeks", "12 wks pregnant", "IUP at 8 weeks",
  "pregnant, 2nd trimester", "first trimester"): pregnancy, as ICD-10-CM codes it (Z3A.01-Z3A.49 "weeks of
  gestation of pregnancy"; the trimesters as ICD-10-CM chapter 15 defines them). A week outside 1-45 is unread,
  and so is a gestational age with no word for pregnancy ("GA 30w", "28 weeks gestation"): in a newborn's chart
  it is the patient's own at birth.
- **Kidney function** ("eGFR 25", "GFR: 48 mL/min/1.73 m2", "CrCl < 30 mL/min", "eGFR 60-89", "eGFR ~40"):
  renal impairment under 90 mL/min, the KDIGO 2012 GFR categories G2-G5 (Kidney Int Suppl 2013;3:1-150, Table
  5), as CKD stage 2 (ICD-10-CM N18.2) already reads here; 90 or more (G1, normal or high) is recognised and
  meets no rule. Unread: a bound, a range or an approximate value that does not say which side of 90 it is on
  ("eGFR > 30", "eGFR 80-100", "eGFR ~90"), a value over 250, and one under 3 without a unit (mL/s?). A past
  result ("eGFR was 95") is not read.
- **Child-Pugh class or score** ("Child-Pugh B", "Child-Turcotte-Pugh C", "CTP B", "Child-Pugh B7", "Child-Pugh
  score 8"): hepatic impairment (cirrhosis when written "Child-Pugh B cirrhosis"), the grading the FDA's
  hepatic impairment guidance uses (Pugh RN et al., Br J Surg 1973;60:646-9: A 5-6 points, B 7-9, C 10-15). A
  score outside 5-15, or a class and points that disagree ("A9"), is unread.

A negated or uncertain measurement ("no eGFR 25", "r/o Child-Pugh B") is read neither as the condition nor as
its absence (`entries.read_named`).

Each reading names the condition it stands for in words the knowledge base's own names give ("pregnant",
"renal impairment", "hepatic impairment") or its ICD-10-CM code, so a layer that renames a condition is followed.
See docs/knowledge-decisions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"(?P<value>\d+(?:\.\d+)?)"
_WEEKS = r"(?:weeks?|wks?|w)(?:\s*(?:\+\s*)?\d\s*(?:days?|d))?"
_PREGNANT = r"(?:pregnant|pregnancy|iup|intrauterine pregnancy)"
_GESTATION = re.compile(
    rf"^\s*(?:{_PREGNANT}\s*(?:[,:(\-]|at|of)?\s*(?P<a>\d{{1,2}})(?:\s*\+\s*\d)?\s*{_WEEKS}"
    r"(?:\s*(?:gestation|of gestation|gestational|ga))?\)?"
    rf"|(?P<b>\d{{1,2}})(?:\s*\+\s*\d)?\s*{_WEEKS}['’]?\s*(?:gestation\s+|of gestation\s+)?{_PREGNANT})\s*$",
    re.IGNORECASE)
"""Weeks of gestation, before or after a word for pregnancy: "pregnant 12 weeks", "12 wks pregnant",
"IUP at 8 weeks"."""

_AGE_AT_BIRTH = re.compile(
    rf"^\s*(?:(?:e?ga|gestational age|gestation)\s*(?:[,:(\-]|at|of)?\s*\d{{1,2}}(?:\s*\+\s*\d)?\s*{_WEEKS}"
    rf"|\d{{1,2}}(?:\s*\+\s*\d)?\s*{_WEEKS}['’]?\s*(?:gestation|of gestation|e?ga|gestational age))\)?\s*$",
    re.IGNORECASE)
"""A gestational age with no word for pregnancy ("GA 30w", "28 weeks gestation"): in a newborn's or a child's
chart it is the patient's own at birth, so it is never read as pregnancy."""

_TRIMESTER = re.compile(
    r"^\s*(?:(?:pregnant|pregnancy)\s*[,:(\-]?\s*(?:in\s+(?:the\s+|her\s+)?)?)?"
    r"(?P<which>first|second|third|1st|2nd|3rd)\s+trimester(?:\s+(?:pregnancy|of pregnancy))?\)?\s*$",
    re.IGNORECASE)
"""A trimester, alone or after the word that says pregnancy: "first trimester", "pregnant, 2nd trimester"."""

_KIDNEY = re.compile(
    r"^\s*(?P<test>e?gfr|estimated gfr|ckd-epi(?:\s+e?gfr)?|mdrd(?:\s+e?gfr)?|crcl|cr\s+cl|clcr|"
    r"creatinine clearance)\s*(?:of|is|=|:)?\s*(?P<bound><=|>=|<|>|≤|≥|~|≈|about|approx\.?|approximately|ca\.?)?\s*"
    + _NUMBER + r"(?:\s*(?:-|to)\s*(?P<high>\d+(?:\.\d+)?))?"
    r"\s*(?P<unit>mls?\s*/\s*min(?:ute)?(?:\s*(?:/|per)\s*1\.73\s*m(?:2|²|\^2|\s*sq)?)?)?\s*$",
    re.IGNORECASE)
"""A kidney function result: "eGFR 25", "GFR: 48 mL/min/1.73 m2", "CrCl < 30 mL/min"."""

_CHILD_PUGH = re.compile(
    r"^\s*(?:child[\s\-–]*(?:turcotte[\s\-–]*)?pugh(?:[\s\-–]*turcotte)?|ctp|child['’]?s)\s*"
    r"(?:class|grade|category|stage)?\s*[:=\-–]?\s*"
    r"(?:(?P<grade>[abc])\s*(?P<points>\d{1,2})?|(?:score\s*(?:of|:|=)?\s*)?(?P<score>\d{1,2}))"
    r"(?:\s+(?P<what>cirrhosis|liver disease))?\s*$",
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
    if _AGE_AT_BIRTH.match(text) is not None:
        return Measured(problem="a gestational age without 'pregnant' may be the patient's own at birth (a newborn's "
                                "chart): give 'pregnant' with it if she is pregnant")
    if _TRIMESTER.match(text) is not None:
        return Measured(as_written="pregnant")
    if (match := _KIDNEY.match(text)) is not None:
        return _kidney(float(match.group("value")), (match.group("bound") or "").lower(), match.group("high"),
                       bool(match.group("unit")))
    if (match := _CHILD_PUGH.match(text)) is not None:
        return _child_pugh(match.group("grade"), match.group("score") or match.group("points"), match.group("what"))
    return None


def _gestation(weeks: int) -> Measured:
    """Weeks of gestation as their ICD-10-CM code (Z3A.01 under 8 weeks, Z3A.08-Z3A.42, Z3A.49 over 42)."""
    if not 1 <= weeks <= 45:
        return Measured(problem=f"{weeks} weeks is not a week of a pregnancy (1 to 45); give 'pregnant' if she is")
    code = "Z3A.01" if weeks < 8 else "Z3A.49" if weeks > 42 else f"Z3A.{weeks:02d}"
    return Measured(as_written=code)


def _kidney(value: float, bound: str, high: str | None, unit: bool) -> Measured:
    """A kidney function in mL/min, read against `KIDNEY_NORMAL`: a value, a range ("60-89"), or a bound or an
    approximate value only when it is on one side of it ("eGFR ~90" is not)."""
    approximate = bound in ("~", "≈", "about", "approx", "approx.", "approximately", "ca", "ca.")
    written = f"{'~' if approximate else bound}{value:g}{f'-{high}' if high else ''}"
    shown = f"{written} mL/min"
    top = float(high) if high else value
    if top > 250 or top < value:
        return Measured(problem=f"{shown} is outside the range of a kidney function; give the eGFR or CrCl in "
                                "mL/min")
    if not unit and top < 3:
        return Measured(problem=f"{written} without a unit may be mL/s (SI), not mL/min; give the unit")
    below: bool | None
    if approximate:  # within a tenth of the threshold, about N does not say which side it is on
        below = True if value * 1.1 < KIDNEY_NORMAL else False if value * 0.9 >= KIDNEY_NORMAL else None
    elif high:
        below = True if top < KIDNEY_NORMAL else False if value >= KIDNEY_NORMAL else None
    elif bound in ("", "≤", "<="):
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


_CLASS_POINTS = {"a": range(5, 7), "b": range(7, 10), "c": range(10, 16)}
"""The points of each Child-Pugh class (Pugh 1973)."""


def _child_pugh(grade: str | None, score: str | None, what: str | None) -> Measured:
    """Any Child-Pugh class, A to C, or a score of 5 to 15 ("B7": both, and they must agree): hepatic
    impairment, or cirrhosis when the text says so ("Child-Pugh B cirrhosis")."""
    if score is not None and not 5 <= int(score) <= 15:
        return Measured(problem=f"a Child-Pugh score of {score} is outside the scale (5 to 15)")
    if grade and score and int(score) not in _CLASS_POINTS[grade.lower()]:
        return Measured(problem=f"Child-Pugh class {grade.upper()} is not {score} points (A 5-6, B 7-9, C 10-15)")
    return Measured(as_written="cirrhosis" if what and what.lower() == "cirrhosis" else "hepatic impairment")
