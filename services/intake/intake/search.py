"""Finding a household by a member's name or ID number, within the caller's area.

Names and ID numbers live only in the households' events, which the event store
keeps encrypted; the read model holds none of them in clear, and neither does the
index kept here. Per member it keeps keyed hashes (HMAC with the pseudonym key)
of every two adjacent characters of the normalised name, so that any part of two
characters or more can be looked up, and of the last 4, 5 and 6 characters of
the ID number, beside the household's area code and village group (which are not
personal). Without the key the hashes cannot be turned back into names; being
deterministic, they do show how often the same pair of characters occurs.

A query is hashed the same way and the index names candidate households. Each
candidate is then loaded from the event store and checked against the query in
clear, and against the caller's area as the household stands now, so neither a
hash collision nor an index a moment behind ever shows a wrong household.

The index follows the registry's own events (registered, updated) in intake's
notification log, as a read model does: a batch of rows and the position reached
commit together, and the whole index can be rebuilt from the start of the log.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic
from psycopg import sql

from fangpin.auth import Principal
from fangpin.contracts import Role
from fangpin.idnumber import InvalidIdNumber, normalise_id_number
from fangpin.projection import LogFollower, Pool
from intake.application import IntakeApplication
from intake.domain import Household
from intake.errors import NotAllowed

logger = logging.getLogger(__name__)

SHORTEST_QUERY = 2
LONGEST_QUERY = 50
ID_SUFFIXES = (4, 5, 6)
OFFICIALS = (Role.VILLAGE, Role.TOWN, Role.DISTRICT, Role.AUDITOR)
# The events that carry a household's members; an income changes nobody's name.
INDEXED_TOPICS = tuple(
    get_topic(getattr(Household, name))
    for name in ("HouseholdRegistered", "HouseholdUpdated")
)
# People type names with or without the dot of minority names (阿依古丽·买买提),
# with spaces, in full-width or half-width characters.
_SEPARATORS = re.compile(r"[\s·・•.\-_]+")
_ID_LIKE = re.compile(r"\d+X?")
# A query looks at this many candidates more than it shows, and gives up after
# this many rounds: the hashes rarely name a household that does not match.
CANDIDATE_MARGIN = 10
CANDIDATE_ROUNDS = 5


class InvalidQuery(ValueError):
    """The reason never repeats the query: it is personal data."""


class QueryKind(StrEnum):
    NAME = "name"
    ID_SUFFIX = "id_suffix"
    ID_NUMBER = "id_number"


def compact(text: str) -> str:
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))


def normalise_name(name: str) -> str:
    return compact(name).casefold()


def pairs(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


@functools.lru_cache(maxsize=4)
def _keyed_hash(key: str) -> hmac.HMAC:
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


def keyed(key: str, kind: str, text: str) -> str:
    # A copy of the keyed state is cheaper than keying anew, member after member.
    digest = _keyed_hash(key).copy()
    digest.update(f"{kind}:{text}".encode())
    return digest.hexdigest()[:16]


def member_tokens(member: Mapping[str, Any], key: str) -> frozenset[str]:
    """What the index keeps of one member: hashes, never the name or number."""
    number = member["id_number"]
    return frozenset(
        [keyed(key, "name", pair) for pair in pairs(normalise_name(member["name"]))]
        + [keyed(key, "id", number[-length:]) for length in ID_SUFFIXES]
    )


@dataclass(frozen=True)
class SearchTerms:
    kind: QueryKind
    text: str

    @classmethod
    def parse(cls, query: str) -> SearchTerms:
        """A part of a name, the last 4 to 6 characters of an ID number, or all 18."""
        text = compact(query).upper()
        if len(text) < SHORTEST_QUERY:
            raise InvalidQuery(
                f"give at least {SHORTEST_QUERY} characters of a name, or the last "
                "4 to 6 characters of an ID number"
            )
        if not _ID_LIKE.fullmatch(text):
            return cls(QueryKind.NAME, text.casefold())
        if len(text) in ID_SUFFIXES:
            return cls(QueryKind.ID_SUFFIX, text)
        if len(text) == 18:
            try:
                return cls(QueryKind.ID_NUMBER, normalise_id_number(text))
            except InvalidIdNumber as error:
                raise InvalidQuery(f"the ID number {error}") from None
        raise InvalidQuery(
            "an ID number is looked up by its last 4 to 6 characters, or all 18"
        )

    def tokens(self, key: str) -> frozenset[str]:
        """The hashes a matching member's entry holds, all of them."""
        if self.kind is QueryKind.NAME:
            return frozenset(keyed(key, "name", pair) for pair in pairs(self.text))
        return frozenset([keyed(key, "id", self.text[-max(ID_SUFFIXES) :])])

    def matches(self, member: Mapping[str, Any]) -> bool:
        if self.kind is QueryKind.NAME:
            return self.text in normalise_name(member["name"])
        if self.kind is QueryKind.ID_SUFFIX:
            return bool(member["id_number"].endswith(self.text))
        return bool(member["id_number"] == self.text)


@dataclass(frozen=True)
class IndexedHousehold:
    """One household as the index keeps it, as of a position in the log."""

    household_id: UUID
    area_code: str
    village_group: str
    members: tuple[frozenset[str], ...]
    position: int


class SearchIndex(Protocol):
    def position(self) -> int: ...

    def record(self, households: Sequence[IndexedHousehold], position: int) -> int:
        """Take the households newer than the position reached; return the new one."""
        ...

    def candidates(
        self,
        tokens: frozenset[str],
        area_prefix: str,
        village_group: str | None,
        after: UUID | None,
        limit: int,
    ) -> list[UUID]:
        """Households, in id order, with a member whose entry holds every token."""
        ...


class MemorySearchIndex:
    """For unit tests: the index lives as long as the process."""

    def __init__(self) -> None:
        self._households: dict[UUID, IndexedHousehold] = {}
        self._position = 0
        self._lock = threading.Lock()

    def position(self) -> int:
        with self._lock:
            return self._position

    def record(self, households: Sequence[IndexedHousehold], position: int) -> int:
        with self._lock:
            for household in households:
                if household.position > self._position:
                    self._households[household.household_id] = household
            self._position = max(self._position, position)
            return self._position

    def candidates(
        self,
        tokens: frozenset[str],
        area_prefix: str,
        village_group: str | None,
        after: UUID | None,
        limit: int,
    ) -> list[UUID]:
        with self._lock:
            households = list(self._households.values())
        found = sorted(
            household.household_id
            for household in households
            if household.area_code.startswith(area_prefix)
            and village_group in (None, household.village_group)
            and (after is None or household.household_id > after)
            and any(tokens <= member for member in household.members)
        )
        return found[:limit]


class PostgresSearchIndex:
    """One row per member beside the read model; every replica shares it."""

    def __init__(self, pool: Pool, schema: str):
        self.pool = pool
        self.schema = schema
        self.members = sql.SQL("{0}.household_search").format(sql.Identifier(schema))
        self.reached = sql.SQL("{0}.household_search_position").format(
            sql.Identifier(schema)
        )

    def setup(self) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"fangpin-setup-{self.schema}",),
            )
            curs.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(
                    sql.Identifier(self.schema)
                )
            )
            curs.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {0} (household_id uuid NOT NULL, "
                    "member smallint NOT NULL, area_code text NOT NULL, "
                    "village_group text NOT NULL, tokens text[] NOT NULL, "
                    "PRIMARY KEY (household_id, member))"
                ).format(self.members)
            )
            curs.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS household_search_by_token "
                    "ON {0} USING gin (tokens)"
                ).format(self.members)
            )
            curs.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {0} (id smallint PRIMARY KEY, "
                    "position bigint NOT NULL)"
                ).format(self.reached)
            )
            curs.execute(
                sql.SQL(
                    "INSERT INTO {0} (id, position) VALUES (1, 0) "
                    "ON CONFLICT DO NOTHING"
                ).format(self.reached)
            )

    def position(self) -> int:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(sql.SQL("SELECT position FROM {0}").format(self.reached))
            row = curs.fetchone()
            return int(row["position"]) if row else 0

    def record(self, households: Sequence[IndexedHousehold], position: int) -> int:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
            # Replicas follow the same log: the row lock lets one of them apply a
            # batch, and the other skips what it finds already done.
            curs.execute(
                sql.SQL("SELECT position FROM {0} WHERE id = 1 FOR UPDATE").format(
                    self.reached
                )
            )
            row = curs.fetchone()
            done = int(row["position"]) if row else 0
            latest = {
                household.household_id: household
                for household in households
                if household.position > done
            }
            if latest:
                curs.execute(
                    sql.SQL("DELETE FROM {0} WHERE household_id = ANY(%s)").format(
                        self.members
                    ),
                    (list(latest),),
                )
                copy = sql.SQL(
                    "COPY {0} (household_id, member, area_code, village_group, "
                    "tokens) FROM STDIN"
                ).format(self.members)
                with curs.copy(copy) as rows:
                    for household in latest.values():
                        for number, tokens in enumerate(household.members):
                            rows.write_row(
                                (
                                    household.household_id,
                                    number,
                                    household.area_code,
                                    household.village_group,
                                    sorted(tokens),
                                )
                            )
            reached = max(done, position)
            curs.execute(
                sql.SQL("UPDATE {0} SET position = %s WHERE id = 1").format(
                    self.reached
                ),
                (reached,),
            )
            return reached

    def candidates(
        self,
        tokens: frozenset[str],
        area_prefix: str,
        village_group: str | None,
        after: UUID | None,
        limit: int,
    ) -> list[UUID]:
        conditions = [sql.SQL("tokens @> %s"), sql.SQL("area_code LIKE %s")]
        params: list[Any] = [sorted(tokens), area_prefix + "%"]
        if village_group is not None:
            conditions.append(sql.SQL("village_group = %s"))
            params.append(village_group)
        if after is not None:
            conditions.append(sql.SQL("household_id > %s"))
            params.append(after)
        query = sql.SQL(
            "SELECT DISTINCT household_id FROM {0} WHERE {1} "
            "ORDER BY household_id LIMIT %s"
        ).format(self.members, sql.SQL(" AND ").join(conditions))
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(query, [*params, limit])
            return [row["household_id"] for row in curs.fetchall()]


class RegistryIndexer(LogFollower):
    """Keeps the search index up with the registry's events in intake's log."""

    def __init__(
        self, app: IntakeApplication, index: SearchIndex, batch_size: int = 500
    ):
        super().__init__(batch_size)
        self.app = app
        self.index = index

    def describe(self) -> str:
        return "intake search index"

    def start_position(self) -> int:
        return self.index.position()

    def catch_up_once(self) -> int:
        notifications = self.app.recorder.select_notifications(
            start=self.position,
            limit=self.batch_size,
            topics=INDEXED_TOPICS,
            inclusive_of_start=False,
        )
        if not notifications:
            return 0
        households = [
            self._indexed(
                self.app.mapper.to_domain_event(notification), notification.id
            )
            for notification in notifications
        ]
        self.position = self.index.record(households, notifications[-1].id)
        return len(notifications)

    def catch_up(self) -> None:
        while self.catch_up_once():
            pass

    def _indexed(
        self, event: DomainEventProtocol[UUID], position: int
    ) -> IndexedHousehold:
        state = vars(event)
        key = self.app.pseudonym_key
        return IndexedHousehold(
            household_id=event.originator_id,
            area_code=state["area_code"],
            village_group=state["village_group"],
            members=tuple(member_tokens(member, key) for member in state["members"]),
            position=position,
        )


@dataclass(frozen=True)
class Match:
    household: Household
    members: list[dict[str, Any]]


@dataclass(frozen=True)
class Matches:
    households: list[Match]
    more: bool


def search_scope(principal: Principal) -> tuple[str, str | None]:
    """The area prefix and village group a caller looks in."""
    if principal.role is Role.GRID_MONITOR:
        return principal.area_code, principal.village_group
    if principal.role in OFFICIALS:
        return principal.area_code, None
    raise NotAllowed("households are looked up by grid monitors and officials")


class HouseholdFinder:
    def __init__(self, app: IntakeApplication, index: SearchIndex):
        self.app = app
        self.index = index

    def find(self, terms: SearchTerms, principal: Principal, limit: int) -> Matches:
        """Up to ``limit`` households of the caller's area with a member who matches,
        and whether there are more."""
        area_prefix, village_group = search_scope(principal)
        tokens = terms.tokens(self.app.pseudonym_key)
        batch = limit + CANDIDATE_MARGIN
        found: list[Match] = []
        after = None
        more = False

        for _ in range(CANDIDATE_ROUNDS):
            candidates = self.index.candidates(
                tokens, area_prefix, village_group, after, batch
            )
            loaded = self.app.load_many(candidates, Household)
            for household_id in candidates:
                household = loaded.get(household_id)
                if household is None or not principal.covers(
                    household.area_code, household.village_group
                ):
                    continue
                members = [m for m in household.members if terms.matches(m)]
                if members:
                    found.append(Match(household, members))
            if len(found) > limit or len(candidates) < batch:
                break
            after = candidates[-1]
        else:
            # Every round came back full: there may be more than were looked at.
            more = True

        shown = sorted(
            found[:limit],
            key=lambda match: (
                match.household.village_group,
                head_of(match.household)["name"],
            ),
        )
        return Matches(shown, more or len(found) > limit)


def head_of(household: Household) -> dict[str, Any]:
    heads = [m for m in household.members if m.get("relation") == "head"]
    return dict(heads[0] if heads else household.members[0])
