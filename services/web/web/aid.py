"""Aid granted against a case (帮扶发放): who may grant on which step, the
measures offered (those fitting the case's target type first), the form turned
into assistance's body, and the case's grants with their totals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from web import format as fmt
from web.i18n import label
from web.session import User

GRANTING_ROLES = frozenset({"town", "district", "department"})
# Help follows the plan: from the step that draws it until the risk-elimination
# review decides. Before the district's decision only an urgent case's green
# channel lets help start.
AID_STEPS = frozenset({"plan", "assistance", "elimination_review"})
BEFORE_DECISION = frozenset(
    {"visit", "notice", "notice_period", "town_check", "decision"}
)
# Counted units: a grant of people or places is a whole number of them.
WHOLE_UNITS = frozenset({"people", "places"})
GRANT_FIELDS = ("measure", "quantity", "period", "funding_source", "emergency")


def green_channel(case: dict[str, Any], user: User | None = None) -> bool:
    """Whether help may start before the household is confirmed: on an urgent
    case, or on any case when the district office gives it."""
    if case.get("step") not in BEFORE_DECISION:
        return False
    return bool(case.get("urgent")) or (user is not None and user.role == "district")


def may_grant(user: User, case: dict[str, Any]) -> bool:
    if case.get("status") != "open" or user.role not in GRANTING_ROLES:
        return False
    return case.get("step") in AID_STEPS or green_channel(case, user)


def grant_fields(case: dict[str, Any], user: User | None = None) -> list[str]:
    """The grant form's fields on this case: the emergency flag only where the
    green channel is open."""
    return [
        name
        for name in GRANT_FIELDS
        if name != "emergency" or green_channel(case, user)
    ]


def may_stop(user: User, grant: dict[str, Any]) -> bool:
    """A department stops only the grants of its own field; assistance checks
    the area."""
    if user.role not in GRANTING_ROLES or grant.get("stopped_at"):
        return False
    return user.role != "department" or grant.get("department") == user.department


def offered_measures(
    user: User, measures: list[dict[str, Any]], target_type: str | None
) -> list[tuple[str, list[dict[str, Any]]]]:
    """The catalogue in two groups, "fitting" (the case's target type) first and
    "other" after; a department is offered only the measures of its field."""
    own = [
        measure
        for measure in measures
        if user.role != "department" or measure["department"] == user.department
    ]
    fitting = [measure for measure in own if measure["target_type"] == target_type]
    other = [measure for measure in own if measure["target_type"] != target_type]
    return [("fitting", fitting), ("other", other)]


def grant_body(
    case_id: str, form: dict[str, str], units: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Assistance's body from the form, and the problems found before sending
    (as catalogue keys).

    Figures are taken as officials type them (thousands separators, a trailing
    元); anything else is left for assistance to judge and name.
    """
    body: dict[str, Any] = {
        "case_id": case_id,
        "emergency": form.get("emergency") == "true",
    }
    for name in ("measure", "period", "funding_source"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    errors: dict[str, str] = {}
    quantity = form.get("quantity", "")
    for noise in (",", "，", " ", "元"):
        quantity = quantity.replace(noise, "")
    if quantity:
        body["quantity"] = quantity
        unit = units.get(body.get("measure", ""))
        try:
            whole = Decimal(quantity) == Decimal(quantity).to_integral_value()
        except InvalidOperation:
            whole = True
        if unit in WHOLE_UNITS and not whole:
            errors["quantity"] = "grant.whole_number"
    return body, errors


def case_grants(found: dict[str, Any] | None, case_id: str) -> list[dict[str, Any]]:
    """The household's grants made against this case, oldest first."""
    grants = [
        grant
        for grant in (found or {}).get("grants", [])
        if str(grant.get("case_id")) == case_id
    ]
    return sorted(grants, key=lambda grant: str(grant.get("granted_at", "")))


def grant_totals(grants: list[dict[str, Any]]) -> dict[str, Any]:
    """Per measure and unit, what is granted and not stopped; the stopped grants
    are counted apart, as reporting counts them."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    yuan = Decimal(0)
    stopped = 0
    for grant in grants:
        if grant.get("stopped_at"):
            stopped += 1
            continue
        key = (grant["measure"], grant["unit"])
        row = rows.setdefault(
            key,
            {"measure": key[0], "unit": key[1], "grants": 0, "quantity": Decimal(0)},
        )
        row["grants"] += 1
        row["quantity"] += Decimal(str(grant["quantity"]))
        if key[1] == "yuan":
            yuan += Decimal(str(grant["quantity"]))
    return {
        "rows": [rows[key] for key in sorted(rows)],
        "yuan": yuan,
        "stopped": stopped,
    }


def plan_delivery(
    plan: dict[str, Any] | None, grants: list[dict[str, Any]], today: date
) -> dict[str, str]:
    """Per planned measure: granted, overdue (its date passed) or waiting."""
    granted = {grant["measure"] for grant in grants}
    states: dict[str, str] = {}
    for planned in (plan or {}).get("measures", []):
        if planned["measure"] in granted:
            states[planned["measure"]] = "granted"
        elif str(planned.get("due_on", "")) < today.isoformat():
            states[planned["measure"]] = "overdue"
        else:
            states[planned["measure"]] = "waiting"
    return states


def quantity_text(lang: str) -> Callable[[Any, str], str]:
    """A grant's quantity in its unit: yuan as money, the others counted."""

    def shown(quantity: Any, unit: str) -> str:
        if unit == "yuan":
            return fmt.format_money(quantity, lang)
        return f"{fmt.format_number(quantity)} {label(lang, 'unit', unit)}"

    return shown


def period_text(period: str, lang: str) -> str:
    """2026-12 → 2026年12月 / Dec 2026; a whole year stays as it is."""
    year, _, month = period.partition("-")
    if not month.isdigit() or not 1 <= int(month) <= 12:
        return period
    if lang == "zh":
        return f"{year}年{int(month)}月"
    return f"{fmt.MONTHS_EN[int(month) - 1]} {year}"
