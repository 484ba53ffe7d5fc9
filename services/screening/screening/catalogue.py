"""The indicator catalogue: conditions written in CEL, thresholds as named parameters.

A condition sees ``kind`` and ``department`` of the department record, its ``facts``,
the household's ``poverty_status`` and the indicator's ``params``. Conditions are
compiled when the catalogue is built, so a bad one is refused before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cel

from fangpin.contracts import PovertyStatus, TargetType

APPLIES_TO_ALL = frozenset(PovertyStatus)


@dataclass(frozen=True)
class Indicator:
    code: str
    name_zh: str
    name_en: str
    group: str
    applies_to: frozenset[PovertyStatus]
    reads: tuple[str, ...]
    condition: str
    params: dict[str, float | int]
    target_type: TargetType
    severity: str = "high"
    program: Any = field(default=None, compare=False, repr=False)

    def compiled(self) -> Indicator:
        try:
            program = cel.compile(self.condition)
        except ValueError as error:
            raise InvalidCondition(self.code, str(error).splitlines()[0]) from None
        return Indicator(**{**self.__dict__, "program": program})

    def hit(self, context: dict[str, Any]) -> bool:
        try:
            return bool(self.program.execute({**context, "params": self.params}))
        except (ValueError, TypeError, KeyError, RuntimeError):
            # A fact this indicator reads is missing from the record: no hit.
            return False


class InvalidCondition(ValueError):
    def __init__(self, code: str, reason: str):
        super().__init__(f"indicator {code}: condition does not compile: {reason}")
        self.code = code


FORMERLY_POOR = frozenset({PovertyStatus.FORMERLY_POOR})
NEVER_POOR = frozenset({PovertyStatus.NEVER_POOR})

FOUNDATION_INDICATORS = [
    Indicator(
        code="R-MED-01",
        name_zh="医疗自付费用超过监测线",
        name_en="Out-of-pocket medical cost above the line",
        group="medical",
        applies_to=FORMERLY_POOR,
        reads=("facts.out_of_pocket",),
        condition='kind == "hospital_settlement" && '
        "double(facts.out_of_pocket) >= double(params.out_of_pocket_line)",
        params={"out_of_pocket_line": 10000},
        target_type=TargetType.EXPENSE_HARDSHIP,
    ),
    Indicator(
        code="P-MED-01",
        name_zh="医疗自付费用超过监测线（一般农户）",
        name_en="Out-of-pocket medical cost above the line (ordinary household)",
        group="medical",
        applies_to=NEVER_POOR,
        reads=("facts.out_of_pocket",),
        condition='kind == "hospital_settlement" && '
        "double(facts.out_of_pocket) >= double(params.out_of_pocket_line)",
        params={"out_of_pocket_line": 26000},
        target_type=TargetType.EXPENSE_HARDSHIP,
    ),
    Indicator(
        code="R-DIS-01",
        name_zh="新认定一、二级残疾",
        name_en="Newly certified grade 1 or 2 disability",
        group="disability",
        applies_to=APPLIES_TO_ALL,
        reads=("facts.grade",),
        condition='kind == "disability_certification" && '
        "int(facts.grade) <= int(params.severe_grade)",
        params={"severe_grade": 2},
        target_type=TargetType.SAFETY_NET,
    ),
    Indicator(
        code="R-ACC-01",
        name_zh="交通事故致伤致残致死",
        name_en="Traffic accident with injury, disability or death",
        group="accident",
        applies_to=APPLIES_TO_ALL,
        reads=("facts.severity",),
        condition='kind == "traffic_accident" && '
        'facts.severity in ["injury", "disability", "death"]',
        params={},
        target_type=TargetType.EXPENSE_HARDSHIP,
    ),
]

# When several indicators hit, the type that needs the most help wins.
TYPE_PRIORITY = [
    TargetType.SAFETY_NET,
    TargetType.EXPENSE_HARDSHIP,
    TargetType.LOW_INCOME,
]


@dataclass(frozen=True)
class Catalogue:
    version: int
    indicators: tuple[Indicator, ...]

    @classmethod
    def build(cls, version: int, indicators: list[Indicator]) -> Catalogue:
        return cls(version, tuple(indicator.compiled() for indicator in indicators))

    def evaluate(
        self, poverty_status: PovertyStatus, context: dict[str, Any]
    ) -> list[Indicator]:
        return [
            indicator
            for indicator in self.indicators
            if poverty_status in indicator.applies_to and indicator.hit(context)
        ]


def proposed_type(hits: list[Indicator]) -> TargetType:
    types = {indicator.target_type for indicator in hits}
    return next(kind for kind in TYPE_PRIORITY if kind in types)


def default_catalogue() -> Catalogue:
    return Catalogue.build(1, FOUNDATION_INDICATORS)
