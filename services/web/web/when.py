"""The day an official asks about: as things stood on it ("true on") and, apart
from that, as the platform knew them on a day ("as known on"). Reporting answers
both; without either a page shows the present."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from web.format import CHINA
from web.i18n import translator


@dataclass(frozen=True)
class AsOf:
    as_of: date | None = None
    known_on: date | None = None
    # The reason per field a date could not be used, as an i18n key.
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def historical(self) -> bool:
        return self.as_of is not None or self.known_on is not None

    def params(self) -> dict[str, str]:
        """The query parameters reporting (and the pages' links) take."""
        found = {}
        if self.as_of:
            found["as_of"] = self.as_of.isoformat()
        if self.known_on:
            found["known_on"] = self.known_on.isoformat()
        return found

    def values(self) -> dict[str, str]:
        """What the date fields show."""
        return {"as_of": "", "known_on": "", **self.params()}


def read_as_of(as_of: str | None, known_on: str | None) -> AsOf:
    """The two dates from a query string; a date that is not one, or lies in the
    future, is left out and its field says why."""
    today = datetime.now(CHINA).date()
    chosen: dict[str, date | None] = {}
    errors: dict[str, str] = {}
    for name, text in (("as_of", as_of), ("known_on", known_on)):
        text = (text or "").strip()
        chosen[name] = None
        if not text:
            continue
        try:
            day = date.fromisoformat(text)
        except ValueError:
            errors[name] = "drill.date_invalid"
            continue
        if day > today:
            errors[name] = "drill.date_future"
            continue
        chosen[name] = day
    return AsOf(chosen["as_of"], chosen["known_on"], errors)


def as_of_context(when: AsOf, lang: str, live_url: str) -> dict[str, Any]:
    """What the date fields of a page need (see ``_as_of.html``)."""
    t = translator(lang)
    return {
        "when": when,
        "as_of_errors": {name: t(key) for name, key in when.errors.items()},
        "as_of_values": when.values(),
        "today": datetime.now(CHINA).date().isoformat(),
        "live_url": live_url,
    }
