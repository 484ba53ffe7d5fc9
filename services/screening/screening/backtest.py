"""Back-testing: what a draft catalogue would have flagged, replayed over the stored
history of each household, beside what the catalogue in force actually did.

A household's events are replayed in order; after each fact arrived, the draft is
applied on the day it arrived, with the thresholds in force that day. An indicator
counts from the first day of its latest unbroken run of hits. Nothing is stored on
the profiles and nothing is published.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from fangpin.areas import county_date
from screening.catalogue import Catalogue
from screening.domain import RiskProfile

DATA_EVENTS = frozenset(
    {
        "ProfileOpened",
        "HouseholdChanged",
        "SurveyAdded",
        "IncomeAdded",
        "FactsRecorded",
        "ReportAdded",
    }
)


def _advance(runs: dict[str, date], codes: set[str], on: date) -> None:
    for code in [code for code in runs if code not in codes]:
        del runs[code]
    for code in codes:
        runs.setdefault(code, on)


def backtest_household(
    events: list[Any], draft: Catalogue, today: date
) -> dict[str, Any] | None:
    """The draft's and the current catalogue's flags for one household, or None
    when neither ever flagged it."""
    profile: RiskProfile | None = None
    runs: dict[str, date] = {}
    draft_first: date | None = None
    current_first: date | None = None
    pending: date | None = None

    def screen(on: date) -> None:
        nonlocal draft_first
        assert profile is not None
        _advance(runs, {hit.code for hit in profile.evaluate(draft, on)}, on)
        if runs and draft_first is None:
            draft_first = on

    # Facts that arrived on the same day are screened together, once.
    for event in events:
        on = county_date(event.timestamp)
        if pending is not None and on != pending:
            screen(pending)
            pending = None
        profile = event.mutate(profile)
        name = type(event).__name__
        if name == "RiskFlagged" and current_first is None:
            current_first = on
        if name in DATA_EVENTS:
            pending = on
    if profile is None:
        return None
    if pending is not None and pending != today:
        screen(pending)
    screen(today)
    if draft_first is None and current_first is None:
        return None
    return {
        "household_id": str(profile.id),
        "area_code": profile.area_code,
        "draft": {code: since.isoformat() for code, since in runs.items()},
        "draft_first_flagged_on": draft_first.isoformat() if draft_first else None,
        "current": {code: since.isoformat() for code, since in profile.active.items()},
        "current_first_flagged_on": (
            current_first.isoformat() if current_first else None
        ),
    }


def summarise(findings: list[dict[str, Any]], scanned: int) -> dict[str, Any]:
    """Households flagged now by the draft and by the catalogue in force."""
    by_draft = {f["household_id"] for f in findings if f["draft"]}
    by_current = {f["household_id"] for f in findings if f["current"]}
    draft_codes = Counter(code for f in findings for code in f["draft"])
    current_codes = Counter(code for f in findings for code in f["current"])
    return {
        "households_scanned": scanned,
        "flagged_by_draft": len(by_draft),
        "flagged_by_current": len(by_current),
        "flagged_by_both": len(by_draft & by_current),
        "only_by_draft": len(by_draft - by_current),
        "only_by_current": len(by_current - by_draft),
        "by_indicator": {
            code: {"draft": draft_codes[code], "current": current_codes[code]}
            for code in sorted(set(draft_codes) | set(current_codes))
        },
    }
