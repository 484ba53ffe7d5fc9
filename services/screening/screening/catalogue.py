"""The indicator catalogue: conditions in CEL, thresholds as named dated parameters.

A catalogue is plain data (``indicators.toml`` holds the first version; later
versions are stored events): named parameters, each a list of values with the date
each takes effect, and indicators, each with a CEL condition over the household's
inputs (see :mod:`screening.inputs`) and the parameters. On an evaluation date a
condition sees every parameter's value in force on that date, as a double.

Every indicator carries worked examples: inputs, and whether they must hit. An
example input may be written ``"=<CEL over the parameters>"`` (for instance
``"=income_line_formerly_poor - 1.0"``), so examples follow the thresholds when the
district moves them. A catalogue is only built once every condition compiles, reads
only inputs and parameters that exist, and agrees with its own examples.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

import cel

from fangpin.contracts import (
    INCOME_LINE_PARAMETERS,
    PovertyStatus,
    ProblemCategory,
    TargetType,
)
from fangpin.service import DomainError
from screening.inputs import FED_INPUTS, INPUTS, coerce

SEVERITIES = ("high", "medium", "low")
CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
EXAMPLE_EXPRESSION = "="
ABSORBS_ERRORS = re.compile(r"\|\||\?|\.exists|\.all\(|\.exists_one")

# When several indicators hit, the type that needs the most help wins.
TYPE_PRIORITY = [
    TargetType.SAFETY_NET,
    TargetType.EXPENSE_HARDSHIP,
    TargetType.LOW_INCOME,
]

# Channel indicators have no type of their own: the report's category proposes one.
CATEGORY_TYPE = {
    ProblemCategory.ILLNESS: TargetType.EXPENSE_HARDSHIP,
    ProblemCategory.ACCIDENT: TargetType.EXPENSE_HARDSHIP,
    ProblemCategory.DISASTER: TargetType.EXPENSE_HARDSHIP,
    ProblemCategory.SCHOOLING: TargetType.SAFETY_NET,
    ProblemCategory.HOUSING: TargetType.SAFETY_NET,
    ProblemCategory.DRINKING_WATER: TargetType.SAFETY_NET,
    ProblemCategory.INCOME_DROP: TargetType.LOW_INCOME,
    ProblemCategory.EMPLOYMENT: TargetType.LOW_INCOME,
    ProblemCategory.OTHER: TargetType.LOW_INCOME,
}

Number = float | int


class CatalogueError(DomainError):
    """A catalogue that cannot be used; the reason names the indicator or parameter."""

    def __init__(self, subject: str, reason: str):
        super().__init__(f"{subject}: {reason}", field=subject)
        self.subject = subject


class InvalidCondition(CatalogueError):
    """An indicator's condition does not compile or reads something unknown."""


@dataclass(frozen=True)
class ParameterValue:
    effective_from: date
    value: Number


@dataclass(frozen=True)
class Parameter:
    name: str
    unit: str
    description: str
    values: tuple[ParameterValue, ...]

    def value_on(self, on: date) -> Number | None:
        """The value in force on this date, if one had taken effect by then."""
        found = None
        for item in self.values:
            if item.effective_from <= on:
                found = item.value
        return found

    def definition(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "description": self.description,
            "values": [
                {"from": item.effective_from.isoformat(), "value": item.value}
                for item in self.values
            ],
        }


@dataclass(frozen=True)
class Example:
    case: str
    hits: bool
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Indicator:
    code: str
    ref: str
    name_zh: str
    name_en: str
    group: str
    applies_to: frozenset[PovertyStatus]
    condition: str
    target_type: TargetType | None
    severity: str
    description: str
    examples: tuple[Example, ...]
    program: Any = field(compare=False, repr=False)
    reads: tuple[str, ...]
    thresholds: tuple[str, ...]

    @cached_property
    def read_set(self) -> frozenset[str]:
        return frozenset(self.reads)

    @cached_property
    def needs_every_input(self) -> bool:
        """True when the condition cannot hit with any input unknown: an unknown
        input is an error in CEL, and only ``||``, ``?:`` and the list macros can
        absorb one."""
        return not ABSORBS_ERRORS.search(self.condition)

    def definition(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "ref": self.ref,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "group": self.group,
            "applies_to": sorted(status.value for status in self.applies_to),
            "condition": self.condition,
            "target_type": self.target_type.value if self.target_type else None,
            "severity": self.severity,
            "description": self.description,
            "examples": [
                {"case": e.case, "hits": e.hits, "inputs": dict(e.inputs)}
                for e in self.examples
            ],
        }

    def example_inputs(
        self, example: Example, params: Mapping[str, float]
    ) -> dict[str, Any]:
        """An example's inputs, with ``=`` expressions worked out on the params."""
        worked = {}
        for name, value in example.inputs.items():
            if isinstance(value, str) and value.startswith(EXAMPLE_EXPRESSION):
                try:
                    value = cel.compile(value[1:]).execute(cel.Context(dict(params)))
                except (ValueError, TypeError, KeyError, RuntimeError) as error:
                    raise CatalogueError(
                        self.code,
                        f"example {example.case!r}: input {name!r} cannot be worked "
                        f"out ({_first_sentence(error)})",
                    ) from None
            kind = INPUTS[name].kind
            worked[name] = coerce(kind, value)
            if worked[name] is None:
                raise CatalogueError(
                    self.code,
                    f"example {example.case!r}: input {name!r} is not "
                    f"{_TYPE_NAMES[kind]}",
                )
        return worked


_TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false"}
_TYPE_NAMES[str] = "text"


def _first_sentence(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text.split(". ")[0].rstrip(".") or type(error).__name__


def outcome(program: Any, variables: Mapping[str, Any]) -> bool | None:
    """True or False, or None when the condition needs an input that is unknown."""
    try:
        result = program.execute(cel.Context(dict(variables)))
    except (ValueError, TypeError, KeyError, RuntimeError, ZeroDivisionError):
        return None
    return result if isinstance(result, bool) else None


@dataclass(frozen=True)
class Evaluation:
    """One indicator on one household: hit, not hit or unknown, and why."""

    indicator: Indicator
    hit: bool
    known: bool
    values: dict[str, Any]
    thresholds: dict[str, Number]
    missing: tuple[str, ...]

    @property
    def code(self) -> str:
        return self.indicator.code

    def as_hit(self) -> dict[str, Any]:
        """The explanation carried by a RiskFlagged event."""
        return {
            "code": self.indicator.code,
            "name_zh": self.indicator.name_zh,
            "name_en": self.indicator.name_en,
            "values": self.values,
            "thresholds": self.thresholds,
        }


@dataclass(frozen=True)
class Catalogue:
    version: int
    effective_from: date
    parameters: dict[str, Parameter]
    indicators: tuple[Indicator, ...]

    @classmethod
    def build(
        cls, version: int, effective_from: date, definition: Mapping[str, Any]
    ) -> Catalogue:
        """Check a catalogue's definition and compile it; refuse it if anything is
        wrong, naming the indicator or parameter and the reason."""
        text = json.dumps(definition, sort_keys=True, default=str)
        return _built(version, effective_from, text)

    @classmethod
    def _build(
        cls, version: int, effective_from: date, definition: Mapping[str, Any]
    ) -> Catalogue:
        parameters = {
            name: _parameter(name, spec)
            for name, spec in (definition.get("parameters") or {}).items()
        }
        indicators = []
        seen: set[str] = set()
        for spec in definition.get("indicators") or []:
            indicator = _indicator(spec, parameters)
            if indicator.code in seen:
                raise CatalogueError(indicator.code, "the code is used twice")
            seen.add(indicator.code)
            indicators.append(indicator)
        catalogue = cls(version, effective_from, parameters, tuple(indicators))
        # The examples must hold on every date a threshold moves, not only today.
        dates = {effective_from} | {
            item.effective_from
            for parameter in parameters.values()
            for item in parameter.values
            if item.effective_from > effective_from
        }
        for on in sorted(dates):
            for indicator in catalogue.indicators:
                catalogue.check_examples(indicator, on)
        return catalogue

    def definition(self) -> dict[str, Any]:
        return {
            "parameters": {
                name: parameter.definition()
                for name, parameter in self.parameters.items()
            },
            "indicators": [item.definition() for item in self.indicators],
        }

    @cached_property
    def by_code(self) -> dict[str, Indicator]:
        return {indicator.code: indicator for indicator in self.indicators}

    @cached_property
    def _applicable(self) -> dict[PovertyStatus, tuple[Indicator, ...]]:
        return {
            status: tuple(i for i in self.indicators if status in i.applies_to)
            for status in PovertyStatus
        }

    def applicable(self, status: PovertyStatus) -> tuple[Indicator, ...]:
        return self._applicable[status]

    def params_on(self, on: date) -> dict[str, float]:
        """Every parameter in force on the date, as CEL doubles."""
        cached: dict[date, dict[str, float]] = self.__dict__.setdefault(
            "_params_cache", {}
        )
        if on not in cached:
            cached[on] = {
                name: float(value)
                for name, parameter in self.parameters.items()
                if (value := parameter.value_on(on)) is not None
            }
        return cached[on]

    def thresholds_on(self, indicator: Indicator, on: date) -> dict[str, Number]:
        found = {}
        for name in indicator.thresholds:
            value = self.parameters[name].value_on(on)
            if value is not None:
                found[name] = value
        return found

    def check_examples(self, indicator: Indicator, on: date) -> None:
        params = self.params_on(on)
        missing = [name for name in indicator.thresholds if name not in params]
        if missing:
            raise CatalogueError(
                indicator.code,
                f"parameter {missing[0]!r} has no value in force on {on.isoformat()}",
            )
        when = "" if on == self.effective_from else f" on {on.isoformat()}"
        for example in indicator.examples:
            inputs = indicator.example_inputs(example, params)
            try:
                result = indicator.program.execute(cel.Context({**params, **inputs}))
            except (
                ValueError,
                TypeError,
                KeyError,
                RuntimeError,
                ZeroDivisionError,
            ) as error:
                raise CatalogueError(
                    indicator.code,
                    f"the condition fails on example {example.case!r}{when}: "
                    f"{_first_sentence(error)}",
                ) from None
            if not isinstance(result, bool):
                raise CatalogueError(
                    indicator.code,
                    f"the condition gives {type(result).__name__}, not true or false",
                )
            if result != example.hits:
                said = (
                    "should hit but does not" if example.hits else "hits but should not"
                )
                raise CatalogueError(
                    indicator.code, f"example {example.case!r} {said}{when}"
                )

    def evaluate(
        self,
        status: PovertyStatus,
        inputs: Mapping[str, Any],
        on: date,
        everything: bool = False,
    ) -> list[Evaluation]:
        """The indicators that hit, in catalogue order; with ``everything``, every
        indicator that applies, hit or not, with what it read."""
        params = self.params_on(on)
        present = inputs.keys()
        candidates = [
            indicator
            for indicator in self.applicable(status)
            if everything
            or (
                indicator.read_set <= present
                if indicator.needs_every_input
                else not indicator.read_set.isdisjoint(present)
            )
        ]
        # Converting variables for CEL costs more than running the conditions, so
        # the context holds only the parameters the candidates compare against.
        needed = {name for i in candidates for name in i.thresholds if name in params}
        context = cel.Context({**{n: params[n] for n in needed}, **inputs})
        found = []
        for indicator in candidates:
            try:
                result = indicator.program.execute(context)
            except (ValueError, TypeError, KeyError, RuntimeError, ZeroDivisionError):
                result = None
            hit = result is True
            if not (hit or everything):
                continue
            found.append(
                Evaluation(
                    indicator=indicator,
                    hit=hit,
                    known=isinstance(result, bool),
                    values={n: inputs[n] for n in indicator.reads if n in inputs},
                    thresholds=self.thresholds_on(indicator, on),
                    missing=tuple(n for n in indicator.reads if n not in inputs),
                )
            )
        return found

    def hits(
        self, status: PovertyStatus, inputs: Mapping[str, Any], on: date
    ) -> list[Evaluation]:
        return self.evaluate(status, inputs, on)

    def can_fire(
        self, indicator: Indicator, on: date, fed: frozenset[str] = FED_INPUTS
    ) -> bool:
        """Whether an example that hits still hits on the fed inputs alone."""
        cached: dict[Any, bool] = self.__dict__.setdefault("_can_fire_cache", {})
        key = (indicator.code, on, fed)
        if key not in cached:
            cached[key] = self._can_fire(indicator, on, fed)
        return cached[key]

    def _can_fire(self, indicator: Indicator, on: date, fed: frozenset[str]) -> bool:
        params = self.params_on(on)
        for example in indicator.examples:
            if not example.hits:
                continue
            inputs = indicator.example_inputs(example, params)
            kept = {name: v for name, v in inputs.items() if name in fed}
            if kept and outcome(indicator.program, {**params, **kept}) is True:
                return True
        return False

    def cannot_fire(self, on: date) -> list[str]:
        """Codes of the indicators that cannot hit on today's feeds."""
        return [i.code for i in self.indicators if not self.can_fire(i, on)]


@lru_cache(maxsize=32)
def _built(version: int, effective_from: date, text: str) -> Catalogue:
    """Catalogues are immutable, so one built from the same text is shared."""
    return Catalogue._build(version, effective_from, json.loads(text))


def _parameter(name: str, spec: Mapping[str, Any]) -> Parameter:
    if not NAME_PATTERN.match(name):
        raise CatalogueError(name, "a parameter name is lower case, digits and _")
    if name in INPUTS:
        raise CatalogueError(name, "this name is already an input")
    values = []
    for item in spec.get("values") or []:
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CatalogueError(name, "a parameter value is a number")
        values.append(ParameterValue(_date(name, item.get("from")), value))
    if not values:
        raise CatalogueError(name, "a parameter needs at least one dated value")
    values.sort(key=lambda item: item.effective_from)
    return Parameter(
        name=name,
        unit=str(spec.get("unit", "")),
        description=str(spec.get("description", "")),
        values=tuple(values),
    )


def _date(subject: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CatalogueError(subject, f"{value!r} is not a date (YYYY-MM-DD)") from None


def compile_condition(
    code: str, condition: str, parameters: Iterable[str]
) -> tuple[Any, tuple[str, ...], tuple[str, ...]]:
    """The compiled condition, the inputs it reads and the parameters it uses."""
    try:
        program = cel.compile(condition)
    except ValueError as error:
        raise InvalidCondition(
            code, f"the condition does not compile: {_compile_reason(error)}"
        ) from None
    known = set(parameters)
    reads: list[str] = []
    thresholds: list[str] = []
    for name in program.variables():
        if name in INPUTS:
            reads.append(name)
        elif name in known:
            thresholds.append(name)
        else:
            raise InvalidCondition(
                code,
                f"the condition reads {name!r}, which is neither an input "
                "nor a parameter",
            )
    if not reads:
        raise InvalidCondition(code, "the condition reads no input of the household")
    return program, tuple(reads), tuple(thresholds)


def _compile_reason(error: ValueError) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line.split("ERROR:", 1)[1].strip()
    return lines[0] if lines else "syntax error"


def _indicator(spec: Mapping[str, Any], parameters: Mapping[str, Any]) -> Indicator:
    code = str(spec.get("code", ""))
    if not CODE_PATTERN.match(code) or len(code) > 20:
        raise CatalogueError(
            code or "(no code)", "a code is capital letters and digits, e.g. R-MED-01"
        )
    for name in ("name_zh", "name_en", "group", "condition"):
        if not str(spec.get(name, "")).strip():
            raise CatalogueError(code, f"{name} is required")
    try:
        applies_to = frozenset(PovertyStatus(s) for s in spec.get("applies_to") or [])
    except ValueError:
        raise CatalogueError(
            code, "applies_to lists formerly_poor and/or never_poor"
        ) from None
    if not applies_to:
        raise CatalogueError(code, "applies_to names the households it applies to")
    target = spec.get("target_type")
    try:
        target_type = TargetType(target) if target else None
    except ValueError:
        raise CatalogueError(
            code, "target_type is low_income, expense_hardship or safety_net"
        ) from None
    severity = str(spec.get("severity", "medium"))
    if severity not in SEVERITIES:
        raise CatalogueError(code, "severity is high, medium or low")
    condition = str(spec["condition"]).strip()
    program, reads, thresholds = compile_condition(code, condition, parameters)
    examples = tuple(_example(code, reads, item) for item in spec.get("examples") or [])
    if not any(e.hits for e in examples) or all(e.hits for e in examples):
        raise CatalogueError(
            code, "examples need at least one case that hits and one that does not"
        )
    if thresholds and not any("threshold" in e.case for e in examples):
        raise CatalogueError(
            code, "an indicator with thresholds needs an example at the threshold"
        )
    return Indicator(
        code=code,
        ref=str(spec.get("ref", "")),
        name_zh=str(spec["name_zh"]),
        name_en=str(spec["name_en"]),
        group=str(spec["group"]),
        applies_to=applies_to,
        condition=condition,
        target_type=target_type,
        severity=severity,
        description=str(spec.get("description", "")),
        examples=examples,
        program=program,
        reads=reads,
        thresholds=thresholds,
    )


def _example(code: str, reads: tuple[str, ...], spec: Mapping[str, Any]) -> Example:
    case = str(spec.get("case", "")).strip()
    if not case or not isinstance(spec.get("hits"), bool):
        raise CatalogueError(code, "every example has a case name and hits: true/false")
    inputs = dict(spec.get("inputs") or {})
    for name in inputs:
        if name not in reads:
            raise CatalogueError(
                code,
                f"example {case!r} sets {name!r}, which the condition does not read",
            )
    return Example(case, spec["hits"], inputs)


def proposed_type(
    hits: Iterable[Evaluation], latest_category: str | None = None
) -> TargetType:
    """The target type the household's hits suggest, for the town to confirm."""
    types = {e.indicator.target_type for e in hits if e.indicator.target_type}
    for kind in TYPE_PRIORITY:
        if kind in types:
            return kind
    if latest_category in CATEGORY_TYPE:
        return CATEGORY_TYPE[ProblemCategory(latest_category)]
    return TargetType.LOW_INCOME


def default_definition() -> dict[str, Any]:
    """The first catalogue version, as shipped in ``indicators.toml``."""
    loaded: dict[str, Any] = json.loads(_shipped())
    return loaded


@lru_cache(maxsize=1)
def _shipped() -> str:
    text = resources.files("screening").joinpath("indicators.toml").read_text("utf-8")
    return json.dumps(normalised(tomllib.loads(text)))


def normalised(document: Mapping[str, Any]) -> dict[str, Any]:
    """A definition as stored in events: dates as ISO strings, plain containers."""

    def plain(value: Any) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return {
        "parameters": plain(document.get("parameters") or {}),
        "indicators": plain(document.get("indicators") or []),
    }


def income_lines(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every dated value of the income line parameters in a stored definition, in
    the form :class:`~fangpin.contracts.IncomeLine` takes."""
    parameters = definition.get("parameters") or {}
    return [
        {"parameter": name, "value": item["value"], "effective_from": str(item["from"])}
        for name in INCOME_LINE_PARAMETERS.values()
        if name in parameters
        for item in sorted(parameters[name]["values"], key=lambda v: str(v["from"]))
    ]


def default_catalogue(on: date | None = None) -> Catalogue:
    return Catalogue.build(1, on or date.today(), default_definition())


def changes(before: Catalogue | None, after: Catalogue) -> list[str]:
    """What a new version changes, one line per indicator or parameter."""
    if before is None:
        return [f"first version: {len(after.indicators)} indicators"]
    lines = []
    old, new = before.by_code, after.by_code
    for code, indicator in new.items():
        if code not in old:
            lines.append(f"{code}: added")
            continue
        was = old[code].definition()
        now = indicator.definition()
        changed = [key for key in now if key != "examples" and now[key] != was[key]]
        if changed:
            lines.append(f"{code}: {', '.join(changed)} changed")
    lines.extend(f"{code}: retired" for code in old if code not in new)
    for name, parameter in after.parameters.items():
        previous = before.parameters.get(name)
        if previous is None:
            lines.append(f"parameter {name}: added")
            continue
        for item in parameter.values:
            if item not in previous.values:
                lines.append(
                    f"parameter {name}: {item.value} from "
                    f"{item.effective_from.isoformat()}"
                )
    lines.extend(
        f"parameter {name}: removed"
        for name in before.parameters
        if name not in after.parameters
    )
    return lines
