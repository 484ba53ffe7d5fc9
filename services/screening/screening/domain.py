"""Screening's aggregates: each household's risk profile, the indicator catalogue
with its drafts, and the batch jobs that re-screen or back-test the county."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from fangpin.contracts import PovertyStatus
from fangpin.eventstore import stable_id
from screening.catalogue import Catalogue, Evaluation, income_lines, proposed_type
from screening.inputs import WINDOW, derive, sources

CATALOGUE_ID = stable_id("screening", "indicator-catalogue")


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class RiskProfile(Aggregate):
    """What screening knows about one household, and which indicators it hits.

    Registry facts, home-visit surveys, income by year, department records and
    grid reports, each with the upstream event it came from, so a flag can name
    its causes.
    """

    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return household_id

    @event("ProfileOpened")
    def __init__(
        self,
        household_id: UUID,
        area_code: str,
        poverty_status: str,
        meta: dict[str, Any],
        village_group: str | None = None,
        left_poverty_year: int | None = None,
        member_count: int | None = None,
        facts: dict[str, Any] | None = None,
        source_event: UUID | None = None,
    ):
        self.area_code = area_code
        self.village_group = village_group
        self.poverty_status = poverty_status
        self.left_poverty_year = left_poverty_year
        self.member_count = member_count
        self.facts: dict[str, Any] = dict(facts or {})
        self.facts_event = source_event
        self.incomes: dict[int, dict[str, Any]] = {}
        self.records: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.surveys: list[dict[str, Any]] = []
        self.active: dict[str, date] = {}
        self.catalogue_version = 0

    @property
    def status(self) -> PovertyStatus:
        return PovertyStatus(self.poverty_status)

    @property
    def active_codes(self) -> list[str]:
        return list(self.active)

    @event("HouseholdChanged")
    def change_household(
        self,
        area_code: str,
        village_group: str | None,
        poverty_status: str,
        left_poverty_year: int | None,
        member_count: int,
        facts: dict[str, Any],
        source_event: UUID | None,
        meta: dict[str, Any],
    ) -> None:
        self.area_code = area_code
        self.village_group = village_group
        self.poverty_status = poverty_status
        self.left_poverty_year = left_poverty_year
        self.member_count = member_count
        self.facts = dict(facts)
        self.facts_event = source_event

    @event("SurveyAdded")
    def add_survey(
        self,
        surveyed_on: date,
        facts: dict[str, Any],
        source_event: UUID | None,
        meta: dict[str, Any],
    ) -> None:
        # Every survey is kept: a fact stands until a later survey gives it again,
        # and an evaluation on an earlier date reads what stood then.
        self.surveys.append(
            {
                "surveyed_on": as_date(surveyed_on),
                "facts": dict(facts),
                "event": source_event,
            }
        )

    @event("IncomeAdded")
    def add_income(
        self,
        year: int,
        per_capita: float,
        sources: dict[str, float],
        recorded_on: date,
        source_event: UUID | None,
        meta: dict[str, Any],
    ) -> None:
        self.incomes[year] = {
            "per_capita": per_capita,
            "sources": dict(sources),
            "recorded_on": recorded_on,
            "event": source_event,
        }

    @event("FactsRecorded")
    def record_facts(
        self,
        record_id: str,
        department: str,
        kind: str,
        occurred_on: str,
        facts: dict[str, Any],
        meta: dict[str, Any],
        source_event: UUID | None = None,
    ) -> None:
        self.records.append(
            {
                "record_id": record_id,
                "department": department,
                "kind": kind,
                "occurred_on": as_date(occurred_on),
                "facts": facts,
                "event": source_event,
            }
        )
        self.records = _recent(self.records, "occurred_on")

    @event("ReportAdded")
    def add_report(
        self,
        report_id: UUID,
        category: str,
        observed_on: date,
        amount: float | None,
        channel: str,
        source_event: UUID | None,
        meta: dict[str, Any],
    ) -> None:
        self.reports.append(
            {
                "report_id": report_id,
                "category": category,
                "observed_on": as_date(observed_on),
                "amount": amount,
                "channel": channel,
                "event": source_event,
            }
        )
        self.reports = _recent(self.reports, "observed_on")

    @event("RiskFlagged")
    def flag(
        self,
        household_id: UUID,
        area_code: str,
        hits: list[dict[str, Any]],
        target_type: str,
        catalogue_version: int,
        caused_by: list[UUID],
        meta: dict[str, Any],
        new_codes: list[str] | None = None,
        screened_on: date | None = None,
    ) -> None:
        # Flags stored before screened_on existed take their date from the meta.
        since = as_date(screened_on or meta["recorded_at"][:10])
        for code in new_codes if new_codes is not None else [h["code"] for h in hits]:
            self.active.setdefault(code, since)
        self.catalogue_version = catalogue_version

    @event("HitsLapsed")
    def lapse(
        self, codes: list[str], catalogue_version: int, meta: dict[str, Any]
    ) -> None:
        for code in codes:
            self.active.pop(code, None)
        self.catalogue_version = catalogue_version

    @event("RiskCleared")
    def clear(
        self,
        household_id: UUID,
        area_code: str,
        catalogue_version: int,
        cleared_codes: list[str],
        meta: dict[str, Any],
    ) -> None:
        self.active.clear()
        self.catalogue_version = catalogue_version

    # --- screening -------------------------------------------------------------

    def latest_category(self, on: date) -> str | None:
        known = [r for r in self.reports if r["observed_on"] <= on]
        return known[-1]["category"] if known else None

    def evaluate(self, catalogue: Catalogue, on: date) -> list[Evaluation]:
        return catalogue.hits(self.status, derive(self, on), on)

    def screen(self, catalogue: Catalogue, on: date, meta: dict[str, Any]) -> bool:
        """Flag new hits, let go of the ones that no longer hold; True if changed.

        A flag carries every indicator hit now, but only a new hit raises one: the
        same indicators are never flagged twice in a row.
        """
        hits = self.evaluate(catalogue, on)
        codes = [hit.code for hit in hits]
        new = [code for code in codes if code not in self.active]
        gone = [code for code in self.active if code not in codes]
        if not (new or gone):
            return False

        if gone and not codes:
            self.clear(
                household_id=self.id,
                area_code=self.area_code,
                catalogue_version=catalogue.version,
                cleared_codes=gone,
                meta=meta,
            )
            return True
        if gone:
            self.lapse(codes=gone, catalogue_version=catalogue.version, meta=meta)
        if new:
            read = {n for hit in hits if hit.code in new for n in hit.indicator.reads}
            self.flag(
                household_id=self.id,
                area_code=self.area_code,
                hits=[hit.as_hit() for hit in hits],
                target_type=proposed_type(hits, self.latest_category(on)).value,
                catalogue_version=catalogue.version,
                caused_by=sources(self, on, read),
                new_codes=new,
                screened_on=on,
                meta=meta,
            )
        return True


def _recent(items: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Drop what no twelve-month window can reach any more; the events keep it."""
    newest = max(item[field] for item in items)
    horizon = newest - WINDOW - WINDOW
    return [item for item in items if item[field] > horizon]


class IndicatorCatalogue(Aggregate):
    """Every published version of the catalogue, the latest in force."""

    @staticmethod
    def create_id() -> UUID:
        return CATALOGUE_ID

    @event("CatalogueOpened")
    def __init__(self, meta: dict[str, Any]):
        self.versions: list[dict[str, Any]] = []
        self.definitions: dict[int, dict[str, Any]] = {}

    class CataloguePublished(Aggregate.Event):
        version: int
        effective_from: date
        indicator_count: int
        changes: list[str]
        definition: dict[str, Any]
        draft_id: UUID | None
        meta: dict[str, Any]
        income_lines: list[dict[str, Any]]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 left the income lines inside the definition; the
            published contract carries them on their own."""
            state["income_lines"] = income_lines(state["definition"])

    @property
    def latest(self) -> int:
        return len(self.versions)

    def publish(
        self,
        version: int,
        effective_from: date,
        indicator_count: int,
        changes: list[str],
        definition: dict[str, Any],
        draft_id: UUID | None,
        meta: dict[str, Any],
    ) -> None:
        self._published(
            version=version,
            effective_from=effective_from,
            indicator_count=indicator_count,
            changes=changes,
            definition=definition,
            draft_id=draft_id,
            meta=meta,
            income_lines=income_lines(definition),
        )

    @event(CataloguePublished)
    def _published(
        self,
        version: int,
        effective_from: date,
        indicator_count: int,
        changes: list[str],
        definition: dict[str, Any],
        draft_id: UUID | None,
        meta: dict[str, Any],
        income_lines: list[dict[str, Any]],
    ) -> None:
        self.versions.append(
            {
                "version": version,
                "effective_from": as_date(effective_from),
                "indicator_count": indicator_count,
                "changes": list(changes),
                "draft_id": draft_id,
                "published_by": meta["actor"]["user_id"],
            }
        )
        self.definitions[version] = definition

    def catalogue(self, version: int | None = None) -> Catalogue:
        number = version or self.latest
        entry = self.versions[number - 1]
        return Catalogue.build(
            number, entry["effective_from"], self.definitions[number]
        )


class DraftError(Exception):
    """A change to a draft that is no longer open."""


class CatalogueDraft(Aggregate):
    """A catalogue being edited by the district, based on one published version."""

    @event("DraftOpened")
    def __init__(
        self,
        based_on: int,
        definition: dict[str, Any],
        note: str,
        meta: dict[str, Any],
    ):
        self.based_on = based_on
        self.definition = definition
        self.note = note
        self.status = "open"
        self.published_as: int | None = None
        self.edits: list[str] = []
        self.opened_by = meta["actor"]["user_id"]

    def _open(self) -> None:
        if self.status != "open":
            raise DraftError(f"this draft is {self.status}; open a new one")

    def put_indicator(
        self, code: str, spec: dict[str, Any], parameters: dict[str, Any], meta: Any
    ) -> None:
        self._open()
        self._put_indicator(code=code, spec=spec, parameters=parameters, meta=meta)

    @event("IndicatorPut")
    def _put_indicator(
        self,
        code: str,
        spec: dict[str, Any],
        parameters: dict[str, Any],
        meta: dict[str, Any],
    ) -> None:
        self.definition = with_indicator(self.definition, code, spec, parameters)
        self.edits.append(f"{code}: edited")

    def retire_indicator(self, code: str, meta: dict[str, Any]) -> None:
        self._open()
        self._retire_indicator(code=code, meta=meta)

    @event("IndicatorRetired")
    def _retire_indicator(self, code: str, meta: dict[str, Any]) -> None:
        self.definition = without_indicator(self.definition, code)
        self.edits.append(f"{code}: retired")

    def set_parameter(
        self, name: str, effective_from: date, value: float | int, meta: Any
    ) -> None:
        self._open()
        self._set_parameter(
            name=name, effective_from=effective_from, value=value, meta=meta
        )

    @event("ParameterValueSet")
    def _set_parameter(
        self,
        name: str,
        effective_from: date,
        value: float | int,
        meta: dict[str, Any],
    ) -> None:
        self.definition = with_parameter_value(
            self.definition, name, as_date(effective_from), value
        )
        self.edits.append(f"{name}: {value} from {as_date(effective_from)}")

    def mark_published(self, version: int, meta: dict[str, Any]) -> None:
        self._open()
        self._published(version=version, meta=meta)

    @event("DraftPublished")
    def _published(self, version: int, meta: dict[str, Any]) -> None:
        self.status = "published"
        self.published_as = version

    def discard(self, meta: dict[str, Any]) -> None:
        self._open()
        self._discarded(meta=meta)

    @event("DraftDiscarded")
    def _discarded(self, meta: dict[str, Any]) -> None:
        self.status = "discarded"


def with_indicator(
    definition: dict[str, Any],
    code: str,
    spec: dict[str, Any],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """A copy of the definition with the indicator added or replaced in place."""
    indicators = list(definition["indicators"])
    entry = {**spec, "code": code}
    for index, existing in enumerate(indicators):
        if existing["code"] == code:
            indicators[index] = entry
            break
    else:
        indicators.append(entry)
    return {
        "parameters": {**definition["parameters"], **parameters},
        "indicators": indicators,
    }


def without_indicator(definition: dict[str, Any], code: str) -> dict[str, Any]:
    return {
        "parameters": dict(definition["parameters"]),
        "indicators": [i for i in definition["indicators"] if i["code"] != code],
    }


def with_parameter_value(
    definition: dict[str, Any], name: str, effective_from: date, value: float | int
) -> dict[str, Any]:
    """A copy with the value taking effect on that date (replacing one set for the
    same date)."""
    parameter = dict(definition["parameters"][name])
    values = [v for v in parameter["values"] if v["from"] != effective_from.isoformat()]
    values.append({"from": effective_from.isoformat(), "value": value})
    parameter["values"] = sorted(values, key=lambda v: str(v["from"]))
    return {
        "parameters": {**definition["parameters"], name: parameter},
        "indicators": list(definition["indicators"]),
    }


class ScreeningJob(Aggregate):
    """A pass over every profile: a re-screening, or a back-test of a draft."""

    @event("JobStarted")
    def __init__(
        self,
        kind: str,
        total: int,
        catalogue_version: int,
        draft_id: UUID | None,
        reason: str,
        meta: dict[str, Any],
    ):
        self.kind = kind
        self.total = total
        self.catalogue_version = catalogue_version
        self.draft_id = draft_id
        self.reason = reason
        self.status = "running"
        self.done = 0
        self.changed = 0
        self.position: UUID | None = None
        self.findings: list[dict[str, Any]] = []
        self.failure: str | None = None
        self.started_by = meta["actor"]["user_id"]

    @event("JobProgressed")
    def progress(
        self,
        done: int,
        changed: int,
        position: UUID,
        findings: list[dict[str, Any]],
        meta: dict[str, Any],
    ) -> None:
        self.done += done
        self.changed += changed
        self.position = position
        self.findings.extend(findings)

    @event("JobFinished")
    def finish(self, meta: dict[str, Any]) -> None:
        self.status = "finished"

    @event("JobFailed")
    def fail(self, reason: str, meta: dict[str, Any]) -> None:
        self.status = "failed"
        self.failure = reason
