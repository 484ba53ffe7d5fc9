"""Reporting's read models, kept from every stream.

* ``events``: every event of every service, with when it became true
  (``effective_at``) beside when its producer stored it (``occurred_at``);
* ``households``: each household's part of every state figure, folded from its
  events (:mod:`reporting.state`), and ``cases``: each case's steps and timings;
* ``area_figures``: those parts summed per village group, village, town and
  district, so an overview reads a few hundred rows whatever the county's size.

A batch of messages is applied in one transaction with its tracking records. Only
one transaction applies at a time (an advisory lock), because the sums are read,
changed and written back; the lock also lets a rebuild swap schemas between two
batches. Each household touched by a batch is folded with its new events: from
the state this process folded last time when that state is still current (it
folded as many events as are stored), otherwise again from all its events.

Bulk reads and writes pass one JSON document per statement: the locked psycopg
has no C extension, and converting values one by one in Python costs far more
than PostgreSQL's JSON functions.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from fangpin.contracts import Contract, Envelope
from fangpin.inbox import Incoming
from fangpin.projection import Pool, Projection, rows
from reporting.figures import MONTH_EVENT_TYPES
from reporting.parameters import day_start, month_bounds, month_of
from reporting.state import (
    CaseState,
    HouseholdState,
    Recorded,
    Share,
    contribution,
    fold,
    home,
)
from reporting.state import apply as apply_event

logger = logging.getLogger(__name__)

# Bump when the tables change shape: an older schema is rebuilt from the streams.
LAYOUT = "2"
# Events whose effective date is their causes' (and catalogue version's), not
# the moment screening stored them.
DERIVED = ("RiskFlagged", "RiskCleared")
# The village_group of a row that sums a whole area.
WHOLE = "*"
# Department records are counted, never read, when a household is folded.
COUNTED_ONLY = "DepartmentRecordReceived"
ZERO = Decimal(0)
# Month figures kept as running counts: the events whose effective date never
# moves (a flag's does, see ``_settle_effective``).
COUNTED_MONTHLY = frozenset(MONTH_EVENT_TYPES) - frozenset(DERIVED)
# The village group an event happened in: its household's, when the household is
# registered in the village the event names (a household that moved has no group
# in the village it left).
EVENT_GROUP = "CASE WHEN h.area_code = e.area_code THEN h.village_group ELSE '' END"


def effective_at(envelope: Envelope) -> datetime:
    """When the fact became true: the record's, income's, survey's or catalogue's
    own date where the event has one, otherwise when it happened."""
    data = envelope.data
    dated = {
        "DepartmentRecordReceived": "occurred_on",
        "IncomeRecorded": "recorded_on",
        "HouseholdSurveyed": "surveyed_on",
        "CataloguePublished": "effective_from",
    }.get(envelope.type)
    if dated and data.get(dated):
        return day_start(datetime.fromisoformat(str(data[dated])).date())
    return envelope.occurred_at


def household_of(envelope: Envelope) -> str | None:
    if envelope.household_id is not None:
        return str(envelope.household_id)
    found = envelope.data.get("household_id")
    return str(found) if found else None


def case_of(envelope: Envelope) -> str | None:
    if envelope.case_id is not None:
        return str(envelope.case_id)
    found = envelope.data.get("case_id")
    return str(found) if found else None


def causes_of(envelope: Envelope) -> list[str]:
    if envelope.type not in DERIVED:
        return []
    found = {str(item) for item in envelope.data.get("caused_by", [])}
    if envelope.causation_id is not None:
        found.add(str(envelope.causation_id))
    return sorted(found)


def child_length(area: str) -> int | None:
    """How many digits name the next level down; None below a village."""
    return {6: 9, 9: 12}.get(len(area))


@dataclass
class Folded:
    """A household's state, how many of its events it has folded, and the order
    of the last of them."""

    state: HouseholdState
    events: int
    last: tuple[datetime, str] | None


def recorded_of(envelope: Envelope) -> Recorded:
    return Recorded(
        event_id=str(envelope.event_id),
        type=envelope.type,
        occurred_at=envelope.occurred_at,
        effective_at=effective_at(envelope),
        household_id=household_of(envelope),
        case_id=case_of(envelope),
        data=envelope.data,
    )


class ReportingView(Projection):
    def __init__(self, pool: Pool, schema: str, cache_size: int = 50_000):
        super().__init__(pool, schema)
        # Households folded by this process, most recently used last. A state is
        # used only while the stored count of its events equals the count it
        # folded, so another replica's (or a rebuild's) writes just miss it.
        self._cache: OrderedDict[str, Folded] = OrderedDict()
        self._generation: str | None = None
        self.cache_size = cache_size

    # --- tables -------------------------------------------------------------------

    def layout_is_current(self) -> bool:
        """True for a schema of this layout, or none at all (setup creates it)."""
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                "SELECT to_regclass(%s) AS events, to_regclass(%s) AS meta",
                (f"{self.schema}.events", f"{self.schema}.meta"),
            )
            found = curs.fetchone()
            assert found is not None
            if found["events"] is None:
                return True
            if found["meta"] is None:
                return False
            curs.execute(f"SELECT value FROM {self.schema}.meta WHERE key = 'layout'")
            row = curs.fetchone()
            return row is not None and row["value"] == LAYOUT

    def create_tables(self, curs: Cursor[DictRow]) -> None:
        s = self.schema
        curs.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.meta "
            "(key text PRIMARY KEY, value text NOT NULL)"
        )
        curs.execute(
            f"INSERT INTO {s}.meta VALUES ('layout', %s), ('generation', %s) "
            "ON CONFLICT DO NOTHING",
            (LAYOUT, str(uuid.uuid4())),
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {s}.events (
                event_id uuid PRIMARY KEY,
                type text NOT NULL,
                producer text NOT NULL,
                occurred_at timestamptz NOT NULL,
                effective_at timestamptz NOT NULL,
                actor jsonb NOT NULL,
                household_id uuid,
                case_id uuid,
                causation_id uuid,
                correlation_id uuid NOT NULL,
                area_code text,
                catalogue_version integer,
                data jsonb NOT NULL
            )"""
        )
        for column in ("household_id", "case_id"):
            curs.execute(
                f"CREATE INDEX IF NOT EXISTS events_{column} ON {s}.events ({column})"
            )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS events_type_effective "
            f"ON {s}.events (type, effective_at)"
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS events_area "
            f"ON {s}.events (area_code text_pattern_ops)"
        )
        curs.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.causes (cause_id uuid NOT NULL, "
            "event_id uuid NOT NULL, PRIMARY KEY (cause_id, event_id))"
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS causes_event ON {s}.causes (event_id)"
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {s}.households (
                household_id uuid PRIMARY KEY,
                area_code text NOT NULL,
                village_group text NOT NULL,
                registered boolean NOT NULL,
                poverty_status text,
                member_count integer NOT NULL,
                target_type text,
                open_case_id uuid,
                events integer NOT NULL,
                figures jsonb NOT NULL,
                figure_cases jsonb NOT NULL
            )"""
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS households_area ON {s}.households "
            "(area_code text_pattern_ops, village_group)"
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {s}.cases (
                case_id uuid PRIMARY KEY,
                household_id uuid NOT NULL,
                area_code text NOT NULL,
                town_code text NOT NULL,
                status text NOT NULL,
                step text NOT NULL,
                opened_at timestamptz NOT NULL,
                closed_at timestamptz,
                urgent boolean NOT NULL,
                reentry boolean NOT NULL,
                decision text,
                decided_at timestamptz,
                first_visit_at timestamptz,
                exited_at timestamptz,
                warnings integer NOT NULL,
                escalations integer NOT NULL,
                steps jsonb NOT NULL
            )"""
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS cases_town ON {s}.cases (town_code, opened_at)"
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {s}.area_figures (
                area_code text NOT NULL,
                village_group text NOT NULL,
                figure text NOT NULL,
                parent text NOT NULL,
                value numeric NOT NULL,
                PRIMARY KEY (area_code, village_group, figure)
            )"""
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS area_figures_parent "
            f"ON {s}.area_figures (parent, village_group)"
        )
        curs.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {s}.month_figures (
                area_code text NOT NULL,
                month text NOT NULL,
                type text NOT NULL,
                parent text NOT NULL,
                n bigint NOT NULL,
                PRIMARY KEY (area_code, month, type)
            )"""
        )
        curs.execute(
            f"CREATE INDEX IF NOT EXISTS month_figures_parent "
            f"ON {s}.month_figures (parent, month)"
        )

    # --- applying a batch ---------------------------------------------------------

    def apply(self, curs: Cursor[DictRow], envelope: Envelope, data: Contract) -> None:
        self.store(curs, [envelope])

    def process(self, messages: list[Incoming]) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"fangpin-reporting-apply-{self.schema}",),
            )
            self._forget_if_rebuilt(curs)
            # Looked at again under the lock: a rebuild replaying the tail and the
            # live consumers may hold the same message at the same moment.
            fresh = self._untracked(curs, messages)
            if not fresh:
                return
            curs.execute(
                f"INSERT INTO {self.schema}.tracking (producer, notification_id) "
                "SELECT * FROM json_to_recordset(%s::json) "
                "AS x(producer text, notification_id bigint)",
                (
                    _json(
                        [
                            {"producer": m.key[0], "notification_id": m.key[1]}
                            for m in fresh
                        ]
                    ),
                ),
            )
            self.store(curs, [m.envelope for m in fresh if m.envelope is not None])

    def _forget_if_rebuilt(self, curs: Cursor[DictRow]) -> None:
        """A rebuild swapped in new tables: what this process folded before
        belongs to the old ones."""
        curs.execute(f"SELECT value FROM {self.schema}.meta WHERE key = 'generation'")
        found = curs.fetchone()
        generation = found["value"] if found else None
        if generation != self._generation:
            self._cache.clear()
            self._generation = generation

    def _untracked(
        self, curs: Cursor[DictRow], messages: list[Incoming]
    ) -> list[Incoming]:
        keys = [{"p": key[0], "n": key[1]} for key in {m.key for m in messages}]
        done = {
            (item[0], item[1])
            for item in _fetch_json(
                curs,
                "SELECT json_build_array(t.producer, t.notification_id) AS item "
                "FROM json_to_recordset(%s::json) AS x(p text, n bigint), LATERAL "
                f"(SELECT producer, notification_id FROM {self.schema}.tracking "
                "WHERE producer = x.p AND notification_id = x.n) t",
                (_json(keys),),
            )
        }
        fresh = []
        for message in messages:
            if message.key not in done:
                done.add(message.key)
                fresh.append(message)
        return fresh

    def store(self, curs: Cursor[DictRow], envelopes: list[Envelope]) -> None:
        """Record new events and bring their households' figures up to date."""
        unique = list({envelope.event_id: envelope for envelope in envelopes}.values())
        if not unique:
            return
        new_ids = self._insert_events(curs, unique)
        new = [envelope for envelope in unique if str(envelope.event_id) in new_ids]
        if not new:
            return

        derived = [envelope for envelope in new if envelope.type in DERIVED]
        causes = [(cause, str(e.event_id)) for e in derived for cause in causes_of(e)]
        if causes:
            curs.execute(
                f"INSERT INTO {self.schema}.causes (cause_id, event_id) "
                "SELECT * FROM json_to_recordset(%s::json) AS x(c uuid, e uuid) "
                "ON CONFLICT DO NOTHING",
                (_json([{"c": c, "e": e} for c, e in causes]),),
            )
        versions = [
            int(e.data["version"]) for e in new if e.type == "CataloguePublished"
        ]
        # Screening's flags are caused by intake's events.
        self._settle_effective(
            curs,
            [str(e.event_id) for e in derived],
            [str(e.event_id) for e in new if e.producer == "intake"],
            versions,
        )

        self._count_months(curs, new)

        arrived: dict[str, list[Recorded]] = defaultdict(list)
        for envelope in new:
            household = household_of(envelope)
            if household is not None:
                arrived[household].append(recorded_of(envelope))
        touched_cases = {case_of(e) for e in new}
        self._refresh(curs, arrived, {c for c in touched_cases if c is not None})

    def _count_months(self, curs: Cursor[DictRow], new: list[Envelope]) -> None:
        """Count the events of the month figures per village, town and district
        and month, where they happened. A flag's month may still move (its causes
        settle it), so flags are counted from the events when asked."""
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        for envelope in new:
            if envelope.type not in COUNTED_MONTHLY:
                continue
            village = envelope.data.get("area_code") or ""
            if len(village) != 12:
                continue
            month = month_of(effective_at(envelope))
            kinds = [envelope.type]
            if envelope.type == "CaseOpened" and envelope.data.get("reentry"):
                kinds.append("CaseOpened:reentry")
            for kind in kinds:
                for area in (village, village[:9], village[:6]):
                    counts[(area, month, kind)] += 1
        if not counts:
            return
        curs.execute(
            f"""
            INSERT INTO {self.schema}.month_figures AS m
                (area_code, month, type, parent, n)
            SELECT a, m, t, p, n FROM json_to_recordset(%s::json)
                AS x(a text, m text, t text, p text, n bigint)
            ON CONFLICT (area_code, month, type) DO UPDATE SET n = m.n + EXCLUDED.n
            """,
            (
                _json(
                    [
                        {"a": a, "m": m, "t": t, "p": parent((a, WHOLE, t)), "n": n}
                        for (a, m, t), n in counts.items()
                    ]
                ),
            ),
        )

    def _insert_events(
        self, curs: Cursor[DictRow], envelopes: list[Envelope]
    ) -> set[str]:
        document = [
            {
                "event_id": str(e.event_id),
                "type": e.type,
                "producer": e.producer,
                "occurred_at": e.occurred_at.isoformat(),
                "effective_at": effective_at(e).isoformat(),
                "actor": e.actor.model_dump(mode="json"),
                "household_id": household_of(e),
                "case_id": case_of(e),
                "causation_id": _text(e.causation_id),
                "correlation_id": str(e.correlation_id),
                "area_code": e.data.get("area_code"),
                "catalogue_version": _catalogue_version(e),
                "data": e.data,
            }
            for e in envelopes
        ]
        curs.execute(
            f"""
            WITH inserted AS (
                INSERT INTO {self.schema}.events
                SELECT event_id, type, producer, occurred_at, effective_at, actor,
                    household_id, case_id, causation_id, correlation_id, area_code,
                    catalogue_version, data
                FROM json_to_recordset(%s::json) AS x(event_id uuid, type text,
                    producer text, occurred_at timestamptz, effective_at timestamptz,
                    actor jsonb, household_id uuid, case_id uuid, causation_id uuid,
                    correlation_id uuid, area_code text, catalogue_version integer,
                    data jsonb)
                ON CONFLICT (event_id) DO NOTHING
                RETURNING event_id
            )
            SELECT COALESCE(json_agg(event_id), '[]')::text AS items FROM inserted
            """,
            (_json(document),),
        )
        found = curs.fetchone()
        assert found is not None
        return set(json.loads(found["items"]))

    def _settle_effective(
        self,
        curs: Cursor[DictRow],
        derived: list[str],
        new: list[str],
        versions: list[int],
    ) -> None:
        """A flag holds from the latest of its causes' dates (when the records,
        reports or incomes it read became true), and not before its catalogue
        version took effect; with no cause known yet, from when screening stored
        it. Causes come on another stream and may arrive after the flag, so the
        date is settled again whenever one of them, or the version, arrives."""
        s = self.schema
        targets = set(derived)
        if new:
            targets |= {
                item
                for item in _fetch_json(
                    curs,
                    f"SELECT to_json(event_id) AS item FROM {s}.causes "
                    f"WHERE cause_id = ANY({_UUIDS})",
                    (_json(new),),
                )
            }
        if versions:
            targets |= {
                item
                for item in _fetch_json(
                    curs,
                    f"SELECT to_json(event_id) AS item FROM {s}.events "
                    "WHERE type = ANY(%s) AND catalogue_version = ANY(%s)",
                    (list(DERIVED), versions),
                )
            }
        if not targets:
            return
        curs.execute(
            f"""
            WITH settled AS (
                SELECT e.event_id, GREATEST(
                    COALESCE((SELECT max(k.effective_at) FROM {s}.causes c
                        JOIN {s}.events k ON k.event_id = c.cause_id
                        WHERE c.event_id = e.event_id), e.occurred_at),
                    COALESCE((SELECT max(p.effective_at) FROM {s}.events p
                        WHERE p.type = 'CataloguePublished'
                        AND p.catalogue_version = e.catalogue_version),
                        '-infinity'::timestamptz)
                ) AS effective_at
                FROM {s}.events e WHERE e.event_id = ANY({_UUIDS})
            )
            UPDATE {s}.events e SET effective_at = settled.effective_at
            FROM settled WHERE e.event_id = settled.event_id
            AND e.effective_at IS DISTINCT FROM settled.effective_at
            """,
            (_json(sorted(targets)),),
        )

    def _refresh(
        self,
        curs: Cursor[DictRow],
        arrived: dict[str, list[Recorded]],
        touched_cases: set[str],
    ) -> None:
        """Fold each household with its new events and move the sums by the
        difference between its old and new part."""
        if not arrived:
            return
        households = sorted(arrived)
        before = {
            row["household_id"]: row
            for row in _fetch_json(
                curs,
                "SELECT json_build_object('household_id', household_id, "
                "'area_code', area_code, 'village_group', village_group, "
                f"'events', events, 'figures', figures) AS item "
                f"FROM {self.schema}.households WHERE household_id = ANY({_UUIDS})",
                (_json(households),),
            )
        }
        states = self._fold_all(curs, arrived, before)

        deltas: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        changed_households: list[tuple[Folded, dict[str, Share]]] = []
        changed_cases: list[CaseState] = []
        for household_id in households:
            folded = states[household_id]
            state = folded.state
            shares = contribution(state)
            old = before.get(household_id)
            old_figures = (
                {name: Decimal(value) for name, value in old["figures"].items()}
                if old
                else {}
            )
            old_home = (old["area_code"], old["village_group"]) if old else ("", "")
            new_figures = {name: share.value for name, share in shares.items()}
            move_sums(deltas, old_home, home(state), old_figures, new_figures)
            # The row also counts the household's events, so it is always written.
            changed_households.append((folded, shares))
            changed_cases += [
                case for case in state.cases.values() if case.case_id in touched_cases
            ]
        self._write_households(curs, changed_households)
        self._write_cases(curs, changed_cases)
        self._write_deltas(curs, deltas)

    def _fold_all(
        self,
        curs: Cursor[DictRow],
        arrived: dict[str, list[Recorded]],
        before: dict[str, dict[str, Any]],
    ) -> dict[str, Folded]:
        """Each household's state with its new events: from this process's cache
        when the cached state has folded exactly the events stored before (same
        count) and the new ones come after them, otherwise folded again from
        every stored event."""
        states: dict[str, Folded] = {}
        again = []
        for household_id, events in arrived.items():
            stored = (
                int(before[household_id]["events"]) if household_id in before else 0
            )
            # Taken out while it changes: a failure half-way must not leave a
            # half-changed state behind under a count that still matches.
            cached = self._cache.pop(household_id, None)
            events.sort(key=lambda event: event.order)
            if stored == 0:
                cached = Folded(HouseholdState(household_id), 0, None)
            if (
                cached is None
                or cached.events != stored
                or (cached.last is not None and events[0].order <= cached.last)
            ):
                again.append(household_id)
                continue
            for event in events:
                apply_event(cached.state, event)
            cached.events += len(events)
            cached.last = events[-1].order
            states[household_id] = cached
        if again:
            for household_id, events in self.events_of(curs, again).items():
                ordered = sorted(events, key=lambda event: event.order)
                states[household_id] = Folded(
                    fold(household_id, ordered), len(ordered), ordered[-1].order
                )
        for household_id, folded in states.items():
            self._cache[household_id] = folded
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return states

    def events_of(
        self,
        curs: Cursor[DictRow],
        households: list[str],
        effective_before: datetime | None = None,
        known_before: datetime | None = None,
    ) -> dict[str, list[Recorded]]:
        found: dict[str, list[Recorded]] = defaultdict(list)
        for item in _fetch_json(
            curs,
            "SELECT json_build_array(event_id, type, occurred_at, effective_at, "
            "household_id, case_id, CASE WHEN type = %(counted)s "
            "THEN jsonb_build_object('area_code', data->'area_code') "
            f"ELSE data END) AS item FROM {self.schema}.events "
            "WHERE household_id = ANY(ARRAY(SELECT value::uuid "
            "FROM json_array_elements_text(%(households)s::json))) "
            "AND (%(effective)s::timestamptz IS NULL OR effective_at < %(effective)s) "
            "AND (%(known)s::timestamptz IS NULL OR occurred_at < %(known)s)",
            {
                "households": _json(households),
                "effective": effective_before,
                "known": known_before,
                "counted": COUNTED_ONLY,
            },
        ):
            recorded = _recorded_json(item)
            assert recorded.household_id is not None
            found[recorded.household_id].append(recorded)
        return found

    def _write_households(
        self,
        curs: Cursor[DictRow],
        changed: list[tuple[Folded, dict[str, Share]]],
    ) -> None:
        if not changed:
            return
        document = []
        for folded, shares in changed:
            state = folded.state
            target = state.target_case
            opened = state.open_case
            document.append(
                {
                    "household_id": state.household_id,
                    "area_code": state.area_code,
                    "village_group": state.village_group,
                    "registered": state.registered,
                    "poverty_status": state.poverty_status,
                    "member_count": state.member_count,
                    "target_type": target.target_type if target else None,
                    "open_case_id": _text(opened.case_id if opened else None),
                    "events": folded.events,
                    "figures": {name: str(s.value) for name, s in shares.items()},
                    "figure_cases": {
                        name: list(s.cases) for name, s in shares.items() if s.cases
                    },
                }
            )
        curs.execute(
            f"""
            INSERT INTO {self.schema}.households
            SELECT * FROM json_to_recordset(%s::json) AS x(household_id uuid,
                area_code text, village_group text, registered boolean,
                poverty_status text, member_count integer, target_type text,
                open_case_id uuid, events integer, figures jsonb, figure_cases jsonb)
            ON CONFLICT (household_id) DO UPDATE SET
                area_code = EXCLUDED.area_code,
                village_group = EXCLUDED.village_group,
                registered = EXCLUDED.registered,
                poverty_status = EXCLUDED.poverty_status,
                member_count = EXCLUDED.member_count,
                target_type = EXCLUDED.target_type,
                open_case_id = EXCLUDED.open_case_id,
                events = EXCLUDED.events,
                figures = EXCLUDED.figures,
                figure_cases = EXCLUDED.figure_cases
            """,
            (_json(document),),
        )

    def _write_cases(self, curs: Cursor[DictRow], cases: list[CaseState]) -> None:
        if not cases:
            return
        document = [
            {
                "case_id": case.case_id,
                "household_id": case.household_id,
                "area_code": case.area_code,
                "town_code": case.town_code,
                "status": case.status,
                "step": case.step,
                "opened_at": case.opened_at.isoformat(),
                "closed_at": _text(case.closed_at),
                "urgent": case.urgent,
                "reentry": case.reentry,
                "decision": case.decision,
                "decided_at": _text(case.decided_at),
                "first_visit_at": _text(case.first_visit_at),
                "exited_at": _text(case.exited_at),
                "warnings": case.warnings,
                "escalations": case.escalations,
                "steps": [step.as_json() for step in case.steps],
            }
            for case in cases
        ]
        curs.execute(
            f"""
            INSERT INTO {self.schema}.cases
            SELECT * FROM json_to_recordset(%s::json) AS x(case_id uuid,
                household_id uuid, area_code text, town_code text, status text,
                step text, opened_at timestamptz, closed_at timestamptz,
                urgent boolean, reentry boolean, decision text,
                decided_at timestamptz, first_visit_at timestamptz,
                exited_at timestamptz, warnings integer, escalations integer,
                steps jsonb)
            ON CONFLICT (case_id) DO UPDATE SET
                household_id = EXCLUDED.household_id,
                area_code = EXCLUDED.area_code,
                town_code = EXCLUDED.town_code,
                status = EXCLUDED.status,
                step = EXCLUDED.step,
                opened_at = EXCLUDED.opened_at,
                closed_at = EXCLUDED.closed_at,
                urgent = EXCLUDED.urgent,
                reentry = EXCLUDED.reentry,
                decision = EXCLUDED.decision,
                decided_at = EXCLUDED.decided_at,
                first_visit_at = EXCLUDED.first_visit_at,
                exited_at = EXCLUDED.exited_at,
                warnings = EXCLUDED.warnings,
                escalations = EXCLUDED.escalations,
                steps = EXCLUDED.steps
            """,
            (_json(document),),
        )

    def _write_deltas(
        self, curs: Cursor[DictRow], deltas: dict[tuple[str, str, str], Decimal]
    ) -> None:
        moved = [
            {"a": key[0], "g": key[1], "f": key[2], "p": parent(key), "v": str(value)}
            for key, value in deltas.items()
            if value != 0
        ]
        if not moved:
            return
        document = _json(moved)
        curs.execute(
            f"""
            INSERT INTO {self.schema}.area_figures AS f
                (area_code, village_group, figure, parent, value)
            SELECT a, g, f, p, v FROM json_to_recordset(%s::json)
                AS x(a text, g text, f text, p text, v numeric)
            ON CONFLICT (area_code, village_group, figure)
            DO UPDATE SET value = f.value + EXCLUDED.value
            """,
            (document,),
        )
        # A sum back at zero is dropped, as if it had never been there.
        table = f"{self.schema}.area_figures"
        curs.execute(
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
            "SELECT z.ctid FROM json_to_recordset(%s::json) "
            "AS x(a text, g text, f text), LATERAL "
            f"(SELECT ctid FROM {table} WHERE area_code = x.a "
            "AND village_group = x.g AND figure = x.f AND value = 0) z))",
            (document,),
        )

    # --- reading ------------------------------------------------------------------

    def query(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params)
            return rows(curs)

    def figure_sums(self, area: str, group: str | None) -> dict[str, dict[str, Any]]:
        """State figures summed per child area (or per village group)."""
        if child_length(area) is None:
            where = (
                "area_code = %(area)s AND village_group <> %(whole)s "
                "AND (%(group)s::text IS NULL OR village_group = %(group)s)"
            )
            child = "village_group"
        else:
            where = "parent = %(area)s AND village_group = %(whole)s"
            child = "area_code"
        with self.pool.connection() as conn, conn.cursor() as curs:
            found = _fetch_json(
                curs,
                f"SELECT json_build_array({child}, figure, value) AS item "
                f"FROM {self.schema}.area_figures WHERE {where}",
                {"area": area, "whole": WHOLE, "group": group},
                parse_float=Decimal,
            )
        sums: dict[str, dict[str, Any]] = defaultdict(dict)
        for code, name, value in found:
            sums[code][name] = Decimal(value)
        return sums

    def month_counts(
        self,
        area: str,
        group: str | None,
        start: datetime,
        end: datetime,
        types: Iterable[str] = MONTH_EVENT_TYPES,
    ) -> dict[str, dict[str, int]]:
        """Events effective in [start, end) per child area (where each happened)
        and event type; re-entries among the cases opened count under
        ``CaseOpened:reentry``."""
        length = child_length(area)
        wanted = list(types)
        whole_months = _whole_month(start, end)
        if length is not None and whole_months and set(wanted) <= COUNTED_MONTHLY:
            return self._counted(area, whole_months, wanted)
        below_village = length is None or group is not None
        child = EVENT_GROUP if length is None else f"left(e.area_code, {int(length)})"
        joined = (
            f"LEFT JOIN {self.schema}.households h USING (household_id)"
            if below_village
            else ""
        )
        with self.pool.connection() as conn, conn.cursor() as curs:
            found = _fetch_json(
                curs,
                f"SELECT json_build_array({child}, e.type, count(*), "
                "count(*) FILTER (WHERE e.type = 'CaseOpened' "
                "AND (e.data->>'reentry')::boolean)) AS item "
                f"FROM {self.schema}.events e {joined} "
                "WHERE e.type = ANY(%(types)s) AND e.effective_at >= %(start)s "
                "AND e.effective_at < %(end)s AND e.area_code LIKE %(prefix)s "
                + (f"AND {EVENT_GROUP} = %(group)s " if group is not None else "")
                + f"GROUP BY {child}, e.type",
                {
                    "types": list(types),
                    "start": start,
                    "end": end,
                    "prefix": area + "%",
                    "group": group,
                },
            )
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for code, kind, n, reentries in found:
            counts[code][kind] = n
            if reentries:
                counts[code]["CaseOpened:reentry"] = reentries
        return counts

    def _counted(
        self, area: str, month: str, types: list[str]
    ) -> dict[str, dict[str, int]]:
        kinds = types + [f"{kind}:reentry" for kind in types if kind == "CaseOpened"]
        with self.pool.connection() as conn, conn.cursor() as curs:
            found = _fetch_json(
                curs,
                "SELECT json_build_array(area_code, type, n) AS item "
                f"FROM {self.schema}.month_figures "
                "WHERE parent = %s AND month = %s AND type = ANY(%s)",
                (area, month, kinds),
            )
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for code, kind, n in found:
            counts[code][kind] = n
        return counts

    def ledger_counts(
        self, area: str, start: datetime, end: datetime, split: datetime
    ) -> list[dict[str, Any]]:
        """Events per village group (where each happened), type and month
        (before or after ``split``)."""
        with self.pool.connection() as conn, conn.cursor() as curs:
            found = _fetch_json(
                curs,
                "SELECT json_build_object('area_code', e.area_code, "
                f"'village_group', {EVENT_GROUP}, 'type', e.type, "
                "'current', e.effective_at >= %(split)s, 'n', count(*)) AS item "
                f"FROM {self.schema}.events e "
                f"LEFT JOIN {self.schema}.households h USING (household_id) "
                "WHERE e.type = ANY(%(types)s) AND e.effective_at >= %(start)s "
                "AND e.effective_at < %(end)s AND e.area_code LIKE %(prefix)s "
                f"GROUP BY e.area_code, {EVENT_GROUP}, e.type, "
                "e.effective_at >= %(split)s",
                {
                    "types": MONTH_EVENT_TYPES,
                    "start": start,
                    "end": end,
                    "split": split,
                    "prefix": area + "%",
                },
            )
        return found

    def village_groups(self, area: str) -> list[dict[str, Any]]:
        """Every village group with a household in the area."""
        return self.query(
            f"SELECT DISTINCT area_code, village_group FROM {self.schema}.area_figures "
            "WHERE parent LIKE %s AND village_group <> %s "
            "AND area_code LIKE %s",
            (area[:9] + "%", WHOLE, area + "%"),
        )

    def catalogue_in_force(
        self, moment: datetime, known_before: datetime | None = None
    ) -> dict[str, Any] | None:
        found = self.query(
            f"SELECT data FROM {self.schema}.events "
            "WHERE type = 'CataloguePublished' AND effective_at < %(moment)s "
            "AND (%(known)s::timestamptz IS NULL OR occurred_at < %(known)s) "
            "ORDER BY catalogue_version DESC LIMIT 1",
            {"moment": moment, "known": known_before},
        )
        return found[0]["data"] if found else None

    def figure_households(
        self,
        area: str,
        group: str | None,
        name: str,
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """The households counted in a state figure, and the cases behind each."""
        params = {
            "prefix": area + "%",
            "group": group,
            "figure": name,
            "limit": limit,
            "offset": offset,
        }
        where = (
            "area_code LIKE %(prefix)s AND figures ? %(figure)s "
            "AND (%(group)s::text IS NULL OR village_group = %(group)s)"
        )
        total = self.query(
            f"SELECT count(*) AS n FROM {self.schema}.households WHERE {where}",
            params,
        )[0]["n"]
        found = self.query(
            f"SELECT household_id, area_code, village_group, "
            "figures->>%(figure)s AS value, "
            "COALESCE(figure_cases->%(figure)s, '[]'::jsonb) AS cases "
            f"FROM {self.schema}.households WHERE {where} "
            "ORDER BY area_code, village_group, household_id "
            "LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        return int(total), found

    def month_events(
        self,
        area: str,
        group: str | None,
        types: list[str],
        reentry_only: bool,
        start: datetime,
        end: datetime,
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        params = {
            "types": types,
            "start": start,
            "end": end,
            "prefix": area + "%",
            "group": group,
            "reentry": reentry_only,
            "limit": limit,
            "offset": offset,
        }
        where = (
            "e.type = ANY(%(types)s) AND e.effective_at >= %(start)s "
            "AND e.effective_at < %(end)s AND e.area_code LIKE %(prefix)s "
            f"AND (%(group)s::text IS NULL OR {EVENT_GROUP} = %(group)s) "
            "AND (NOT %(reentry)s OR (e.data->>'reentry')::boolean)"
        )
        joined = (
            f"FROM {self.schema}.events e "
            f"LEFT JOIN {self.schema}.households h USING (household_id)"
        )
        total = self.query(f"SELECT count(*) AS n {joined} WHERE {where}", params)
        found = self.query(
            "SELECT e.event_id, e.type, e.occurred_at, e.effective_at, "
            f"e.household_id, e.case_id, e.area_code, {EVENT_GROUP} AS village_group "
            f"{joined} WHERE {where} ORDER BY e.effective_at, e.event_id "
            "LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        return int(total[0]["n"]), found

    def household_home(self, household_id: UUID) -> dict[str, Any] | None:
        found = self.query(
            f"SELECT area_code, village_group FROM {self.schema}.households "
            "WHERE household_id = %s",
            (household_id,),
        )
        return found[0] if found else None

    def household_events(
        self,
        household_id: UUID,
        effective_before: datetime | None,
        known_before: datetime | None,
    ) -> list[dict[str, Any]]:
        """The household's events and, following causation back, their causes."""
        return self.query(
            f"""
            WITH RECURSIVE chain AS (
                SELECT * FROM {self.schema}.events WHERE household_id = %(household)s
                UNION
                SELECT e.* FROM {self.schema}.events e
                JOIN chain c ON e.event_id = c.causation_id
            )
            SELECT event_id, type, producer, occurred_at, effective_at, actor,
                household_id, case_id, causation_id, correlation_id, data
            FROM chain
            WHERE (%(effective)s::timestamptz IS NULL OR effective_at < %(effective)s)
            AND (%(known)s::timestamptz IS NULL OR occurred_at < %(known)s)
            ORDER BY occurred_at, event_id
            """,
            {
                "household": household_id,
                "effective": effective_before,
                "known": known_before,
            },
        )

    def stream_area_events(
        self,
        area: str,
        effective_before: datetime | None,
        known_before: datetime | None,
    ) -> Iterator[Recorded]:
        """Every event of the households that ever had an event in this area,
        as they stood, read in pages so a county fits in memory."""
        with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="reporting_as_of") as curs,
        ):
            curs.itersize = 20_000
            # One JSON text per row: parsed by the C decoder instead of column by
            # column in Python.
            curs.execute(
                "SELECT json_build_array(event_id, type, occurred_at, effective_at, "
                "household_id, case_id, CASE WHEN type = %(counted)s "
                "THEN jsonb_build_object('area_code', data->'area_code') "
                f"ELSE data END)::text AS item FROM {self.schema}.events "
                "WHERE household_id IN (SELECT DISTINCT household_id "
                f"FROM {self.schema}.events WHERE area_code LIKE %(prefix)s) "
                "AND (%(effective)s::timestamptz IS NULL "
                "OR effective_at < %(effective)s) "
                "AND (%(known)s::timestamptz IS NULL OR occurred_at < %(known)s) "
                "ORDER BY household_id",
                {
                    "prefix": area + "%",
                    "effective": effective_before,
                    "known": known_before,
                    "counted": COUNTED_ONLY,
                },
            )
            for row in curs:
                yield _recorded_json(json.loads(row["item"]))

    def cases_for_assessment(
        self, area: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Cases opened before ``end`` that were not closed before ``start``."""
        return self.query(
            f"SELECT c.*, h.village_group FROM {self.schema}.cases c "
            f"LEFT JOIN {self.schema}.households h USING (household_id) "
            "WHERE c.area_code LIKE %(prefix)s AND c.opened_at < %(end)s "
            "AND (c.closed_at IS NULL OR c.closed_at >= %(start)s)",
            {"prefix": area + "%", "start": start, "end": end},
        )

    def limit_changes(self) -> list[dict[str, Any]]:
        """The district's time-limit and calendar changes, oldest first."""
        return self.query(
            f"SELECT type, occurred_at, data FROM {self.schema}.events "
            "WHERE type IN ('TimeLimitChanged', 'WorkCalendarChanged') "
            "ORDER BY occurred_at, event_id"
        )

    def department_records(
        self, area: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Matched records effective in [start, end), with when they arrived."""
        return self.query(
            "SELECT event_id, household_id, case_id, area_code, occurred_at, "
            "effective_at, data->>'department' AS department, "
            "data->>'kind' AS kind, data->>'record_id' AS record_id "
            f"FROM {self.schema}.events WHERE type = 'DepartmentRecordReceived' "
            "AND effective_at >= %(start)s AND effective_at < %(end)s "
            "AND area_code LIKE %(prefix)s",
            {"prefix": area + "%", "start": start, "end": end},
        )

    def rejected_records(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Rejected records carry no date of their own: they count when they came."""
        return self.query(
            "SELECT event_id, occurred_at, data->>'department' AS department, "
            "data->>'kind' AS kind, data->>'record_id' AS record_id, "
            "data->>'reason' AS reason "
            f"FROM {self.schema}.events WHERE type = 'RecordRejected' "
            "AND occurred_at >= %(start)s AND occurred_at < %(end)s",
            {"start": start, "end": end},
        )

    def assignments_due(
        self, area: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Measures assigned to departments and due in [start, end), with the
        first grant of the same measure on the same case."""
        return self.query(
            f"""
            SELECT a.event_id, a.household_id, a.case_id, a.area_code,
                a.data->>'department' AS department, a.data->>'measure' AS measure,
                (a.data->>'due_on')::date AS due_on,
                (SELECT min(g.occurred_at) FROM {self.schema}.events g
                    WHERE g.type = 'AidGranted' AND g.case_id = a.case_id
                    AND g.data->>'measure' = a.data->>'measure') AS delivered_at
            FROM {self.schema}.events a
            WHERE a.type = 'MeasureAssigned' AND a.area_code LIKE %(prefix)s
            AND (a.data->>'due_on')::date >= %(start)s::date
            AND (a.data->>'due_on')::date < %(end)s::date
            """,
            {"prefix": area + "%", "start": start, "end": end},
        )

    def cases_by_town(self, area_prefix: str) -> list[dict[str, Any]]:
        return self.query(
            f"SELECT town_code, "
            "count(*) FILTER (WHERE status = 'open') AS open, "
            "count(*) FILTER (WHERE status = 'closed') AS closed "
            f"FROM {self.schema}.cases WHERE area_code LIKE %s "
            "GROUP BY town_code ORDER BY town_code",
            (area_prefix + "%",),
        )

    def case_area(self, case_id: UUID) -> str | None:
        found = self.query(
            f"SELECT area_code FROM {self.schema}.cases WHERE case_id = %s",
            (case_id,),
        )
        return str(found[0]["area_code"]) if found else None

    def case_timeline(self, case_id: UUID) -> list[dict[str, Any]]:
        """The case's events and, following causation back, what caused them."""
        return self.query(
            f"""
            WITH RECURSIVE chain AS (
                SELECT * FROM {self.schema}.events WHERE case_id = %s
                UNION
                SELECT e.* FROM {self.schema}.events e
                JOIN chain c ON e.event_id = c.causation_id
            )
            SELECT event_id, type, producer, occurred_at, effective_at, actor,
                household_id, case_id, causation_id, correlation_id, data
            FROM chain ORDER BY occurred_at, event_id
            """,
            (case_id,),
        )


def _catalogue_version(envelope: Envelope) -> int | None:
    if envelope.type == "CataloguePublished":
        return int(envelope.data["version"])
    if envelope.type in DERIVED:
        return int(envelope.data["catalogue_version"])
    return None


# A JSON list of ids as an array the planner looks up through an index, whatever
# it guesses the list's length to be.
_UUIDS = "ARRAY(SELECT value::uuid FROM json_array_elements_text(%s::json))"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _fetch_json(
    curs: Cursor[DictRow],
    statement: str,
    params: Any,
    parse_float: Callable[[str], Any] = float,
) -> list[Any]:
    """Rows of one JSON value each, aggregated and parsed at once: far cheaper
    than converting every column of every row in Python."""
    curs.execute(
        f"SELECT COALESCE(json_agg(q.item), '[]')::text AS items FROM ({statement}) q",
        params,
    )
    found = curs.fetchone()
    assert found is not None
    items: list[Any] = json.loads(found["items"], parse_float=parse_float)
    return items


def _recorded_json(item: list[Any]) -> Recorded:
    return Recorded(
        event_id=item[0],
        type=item[1],
        occurred_at=datetime.fromisoformat(item[2]),
        effective_at=datetime.fromisoformat(item[3]),
        household_id=item[4],
        case_id=item[5],
        data=item[6],
    )


def move_sums(
    deltas: dict[tuple[str, str, str], Decimal],
    old_home: tuple[str, str],
    new_home: tuple[str, str],
    old: dict[str, Decimal],
    new: dict[str, Decimal],
) -> None:
    """Move a household's figures from its old part to its new one, at every
    level above it (most figures of most households do not change)."""
    if old_home == new_home:
        changed = {
            name: new.get(name, ZERO) - old.get(name, ZERO)
            for name in old.keys() | new.keys()
            if new.get(name) != old.get(name)
        }
        spread_sums(deltas, new_home, changed)
        return
    spread_sums(deltas, old_home, {name: -value for name, value in old.items()})
    spread_sums(deltas, new_home, new)


def spread_sums(
    deltas: dict[tuple[str, str, str], Decimal],
    where: tuple[str, str],
    figures: dict[str, Decimal],
) -> None:
    village, group = where
    if len(village) != 12:
        return
    town, district = village[:9], village[:6]
    for name, value in figures.items():
        deltas[(village, group, name)] += value
        deltas[(village, WHOLE, name)] += value
        deltas[(town, WHOLE, name)] += value
        deltas[(district, WHOLE, name)] += value


def parent(key: tuple[str, str, str]) -> str:
    """The area a row of ``area_figures`` is one of the children of."""
    area, group, _ = key
    if group != WHOLE:
        return area[:9]
    return {12: area[:9], 9: area[:6]}.get(len(area), "")


def _whole_month(start: datetime, end: datetime) -> str | None:
    """The month [start, end) is exactly, if it is one."""
    month = month_of(start)
    return month if month_bounds(month) == (start, end) else None
