"""Turn the services' answers into what a page shows: timeline rows with who,
when, why and what caused them; risk hits; the facts of an event; the
catalogue's parameters and change lines in the page's language."""

from __future__ import annotations

import re
from typing import Any

from web import format as fmt
from web.i18n import PARAMETER_UNITS_ZH, PARAMETERS_ZH, label, translator

# Fields that say why something happened, in the order they are looked for.
WHY_FIELDS = ("reason", "summary", "findings", "note", "verification", "description")
MONEY_FIELDS = {
    "amount",
    "total_cost",
    "reimbursed",
    "out_of_pocket",
    "per_capita_net_income",
    "income",
}
# Per event type, the fields worth a line under its title.
SHOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "ProblemReported": ("category", "observed_on", "amount", "urgent"),
    "DepartmentRecordReceived": ("department", "kind", "occurred_on"),
    "HouseholdSurveyed": ("surveyed_on",),
    "RecordRejected": ("department", "kind"),
    "CaseOpened": ("signal_type", "urgent", "reentry"),
    "SignalAttached": ("signal_type",),
    "HomeVisitRecorded": ("consent",),
    "NoticePublished": ("starts_on", "ends_on"),
    "VillageReviewed": ("objections",),
    "TargetConfirmed": ("target_type",),
    "PlanDrawn": ("target_type", "paired_cadre"),
    "ProgressRecorded": ("kind",),
    "EliminationReviewed": ("approved",),
    "TargetExited": ("target_type", "months_monitored"),
    "CaseOverdue": ("step", "due_at"),
    "CaseEscalated": ("step", "to_level"),
    "MeasureAssigned": ("measure", "department", "due_on"),
    "AidGranted": ("measure", "quantity", "period", "funding_source", "emergency"),
    "AidStopped": ("measure",),
    "CaseClosed": ("verified_by",),
    "RiskFlagged": ("target_type", "catalogue_version"),
}
LABELLED = {
    "category": "category",
    "target_type": "target",
    "department": "department",
    "step": "step",
    "to_level": "level",
    "kind": "progress",
    "signal_type": "event",
}


def value_text(name: str, value: Any, lang: str, measures: dict[str, Any]) -> str:
    if isinstance(value, bool):
        return translator(lang)("yes" if value else "no")
    if name in MONEY_FIELDS:
        return fmt.format_money(value, lang)
    if name == "measure" and isinstance(value, str):
        if value in measures:
            return str(measures[value]["name_zh" if lang == "zh" else "name_en"])
        return fmt.measure_name(value, lang)
    if name in LABELLED:
        return label(lang, LABELLED[name], value)
    if name.endswith("_on") or name.endswith("_at"):
        return fmt.format_datetime(value, lang)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return fmt.format_number(value)
    return str(value)


def event_facts(
    entry: dict[str, Any], lang: str, measures: dict[str, Any]
) -> list[tuple[str, str]]:
    data = entry.get("data") or {}
    facts = []
    for name in SHOWN_FIELDS.get(entry["type"], ()):
        if name in data and data[name] not in (None, ""):
            facts.append((name, value_text(name, data[name], lang, measures)))
    if entry["type"] in ("DepartmentRecordReceived", "HouseholdSurveyed"):
        for name, value in (data.get("facts") or {}).items():
            facts.append((name, value_text(name, value, lang, measures)))
    if entry["type"] == "PlanDrawn":
        for planned in data.get("measures") or []:
            facts.append(
                (
                    "measure",
                    value_text("measure", planned.get("measure"), lang, measures)
                    + " · "
                    + fmt.format_date(planned.get("due_on"), lang),
                )
            )
    if entry["type"] == "EliminationReviewed":
        for unmet in data.get("unmet") or []:
            facts.append(("unmet", unmet_text(unmet, lang)))
    return facts


# Casework names the income line it judged by: "below the line of 8,000 yuan (…)".
_INCOME_LINE = re.compile(r"line of ([\d,.]+) yuan")


def unmet_text(unmet: str, lang: str) -> str:
    """``income: not above the line …`` → the catalogue's sentence for ``income``,
    with the income line casework used where it names one."""
    code = unmet.split(":", 1)[0].strip()
    text = label(lang, "unmet", code)
    if text == code:
        return unmet
    line = _INCOME_LINE.search(unmet) if code == "income" else None
    if line:
        shown = line.group(1)
        text += f"（监测线 {shown} 元）" if lang == "zh" else f" (line: {shown} yuan)"
    return text


def actor_text(actor: dict[str, Any] | None, lang: str) -> str:
    if not actor:
        return ""
    role = label(lang, "role", actor.get("role"))
    if actor.get("role") == "system":
        return role
    department = actor.get("department")
    extra = f" · {label(lang, 'department', department)}" if department else ""
    user = actor.get("user_id", "")
    return f"{user}（{role}{extra}）" if lang == "zh" else f"{user} ({role}{extra})"


def timeline_rows(
    entries: list[dict[str, Any]], lang: str, measures: dict[str, Any]
) -> list[dict[str, Any]]:
    by_id = {entry["event_id"]: entry for entry in entries}
    rows = []
    for entry in entries:
        data = entry.get("data") or {}
        why = next((data[name] for name in WHY_FIELDS if data.get(name)), "")
        cause = by_id.get(entry.get("causation_id") or "")
        rows.append(
            {
                "id": entry["event_id"],
                "type": entry["type"],
                "title": label(lang, "event", entry["type"]),
                "at": fmt.format_datetime(entry["occurred_at"], lang),
                "actor": actor_text(entry.get("actor"), lang),
                "why": why,
                "facts": event_facts(entry, lang, measures),
                "cause": (
                    {
                        "id": cause["event_id"],
                        "title": label(lang, "event", cause["type"]),
                        "at": fmt.format_datetime(cause["occurred_at"], lang),
                    }
                    if cause
                    else None
                ),
                "hits": data.get("hits") or [],
            }
        )
    return rows


def risk_hits(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every indicator hit of the case's risk flags, newest flag last."""
    hits = []
    for entry in entries:
        if entry["type"] != "RiskFlagged":
            continue
        data = entry.get("data") or {}
        for hit in data.get("hits") or []:
            hits.append(
                {
                    **hit,
                    "flagged_at": entry["occurred_at"],
                    "target_type": data.get("target_type"),
                }
            )
    return hits


def suggested_target_type(entries: list[dict[str, Any]]) -> str | None:
    flagged = [entry for entry in entries if entry["type"] == "RiskFlagged"]
    if not flagged:
        return None
    found = (flagged[-1].get("data") or {}).get("target_type")
    return str(found) if found else None


# The lines screening writes for what a catalogue version changes, tried in this
# order; a line of another shape is shown as screening wrote it.
CHANGE_LINES = [
    (re.compile(r"first version: (?P<count>\d+) indicators"), "change.first"),
    (re.compile(r"parameter (?P<name>\S+): added"), "change.parameter_added"),
    (re.compile(r"parameter (?P<name>\S+): removed"), "change.parameter_removed"),
    (
        re.compile(r"parameter (?P<name>\S+): (?P<value>\S+) from (?P<date>\S+)"),
        "change.parameter_value",
    ),
    (re.compile(r"(?P<code>\S+): added"), "change.indicator_added"),
    (re.compile(r"(?P<code>\S+): retired"), "change.indicator_retired"),
    (
        re.compile(r"(?P<code>\S+): (?P<fields>\w+(, \w+)*) changed"),
        "change.indicator_changed",
    ),
]


def parameter_description(name: str, description: str, lang: str) -> str:
    """What a catalogue parameter means: in Chinese where the page knows it,
    otherwise in screening's words."""
    if lang == "zh":
        return PARAMETERS_ZH.get(name, description)
    return description


def parameter_unit(unit: str, lang: str) -> str:
    return PARAMETER_UNITS_ZH.get(unit, unit) if lang == "zh" else unit


def change_text(line: str, lang: str) -> str:
    """One of screening's change lines in the page's language."""
    for pattern, key in CHANGE_LINES:
        found = pattern.fullmatch(line)
        if found is None:
            continue
        parts: dict[str, str] = found.groupdict()
        if "name" in parts and lang == "zh" and parts["name"] in PARAMETERS_ZH:
            parts["name"] += f"（{PARAMETERS_ZH[parts['name']]}）"
        if "value" in parts:
            parts["value"] = fmt.format_number(parts["value"])
        if "date" in parts:
            parts["date"] = fmt.format_date(parts["date"], lang)
        if "fields" in parts:
            parts["fields"] = ("、" if lang == "zh" else ", ").join(
                label(lang, "indicator_field", field)
                for field in parts["fields"].split(", ")
            )
        return translator(lang)(key, **parts)
    return line
