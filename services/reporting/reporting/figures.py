"""Every figure reporting shows, with its Chinese and English label.

A figure is one of three kinds:

* ``state``: households (or their open cases) counted as they stand, kept up to
  date by the projection and summed per area;
* ``ratio``: one state figure divided by another (per-capita income);
* ``month``: events whose effective date falls in the month asked for.

Aid figures are named per measure and unit: ``aid.<measure>.<unit>.<part>``, and
assignments ``assigned.<measure>``. Every figure can be drilled into: the same name
lists the households or cases it counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from fangpin.contracts import TargetType
from fangpin.measures import MEASURES

TARGET_TYPES = [kind.value for kind in TargetType]
TARGET_TYPE_LABELS = {
    "low_income": ("低收入型", "low income"),
    "expense_hardship": ("支出困难型", "expense hardship"),
    "safety_net": ("政策兜底型", "policy safety net"),
}
STEPS = [
    "visit",
    "notice",
    "notice_period",
    "town_check",
    "decision",
    "plan",
    "assistance",
    "elimination_review",
    "closure",
]
STEP_LABELS = {
    "visit": ("入户核实", "home visit"),
    "notice": ("村级评议公示", "village review and notice"),
    "notice_period": ("公示期", "notice period"),
    "town_check": ("乡镇审核", "town check"),
    "decision": ("区县审定", "county decision"),
    "plan": ("制定帮扶计划", "plan"),
    "assistance": ("落实帮扶", "assistance"),
    "elimination_review": ("风险消除审核", "risk-elimination review"),
    "closure": ("整改销号", "closure"),
}
AID_PARTS = {
    "grants": ("发放笔数", "grants"),
    "quantity": ("数量", "quantity"),
    "households": ("受益户数", "households reached"),
    "stopped": ("停发笔数", "stopped grants"),
    "stopped_quantity": ("停发数量", "stopped quantity"),
}


@dataclass(frozen=True)
class Figure:
    name: str
    zh: str
    en: str
    kind: str
    # month figures: the event types counted ("CaseOpened:reentry" counts
    # re-entries only); ratio figures: numerator and denominator.
    parts: tuple[str, ...] = ()
    unit: str = "households"


def _static() -> list[Figure]:
    found = [
        Figure("households", "登记户数", "registered households", "state"),
        Figure(
            "people",
            "登记人口",
            "people in registered households",
            "state",
            (),
            "people",
        ),
        Figure("formerly_poor", "脱贫户", "formerly poor households", "state"),
        Figure("never_poor", "一般农户", "never-poor households", "state"),
        Figure("flagged", "风险预警户", "households with an active risk flag", "state"),
        Figure("targets", "监测对象", "monitoring targets", "state"),
        Figure(
            "target_people",
            "监测对象人口",
            "people covered (targets)",
            "state",
            (),
            "people",
        ),
        Figure(
            "targets.formerly_poor", "脱贫不稳定户", "targets formerly poor", "state"
        ),
        Figure("targets.never_poor", "边缘易致贫户", "targets never poor", "state"),
        Figure("open_cases", "在办案件", "open cases", "state", (), "cases"),
        Figure(
            "overdue",
            "超时预警",
            "open cases past their step's limit",
            "state",
            (),
            "cases",
        ),
        Figure(
            "escalated",
            "超时升级",
            "open cases escalated a level",
            "state",
            (),
            "cases",
        ),
    ]
    for kind in TARGET_TYPES:
        zh, en = TARGET_TYPE_LABELS[kind]
        found += [
            Figure(f"targets.{kind}", zh, f"{en} targets", "state"),
            Figure(
                f"target_people.{kind}",
                f"{zh}人口",
                f"people in {en} targets",
                "state",
                (),
                "people",
            ),
            Figure(
                f"income.{kind}",
                f"{zh}人均纯收入",
                f"per-capita net income of {en} targets",
                "ratio",
                (f"income_sum.{kind}", f"income_people.{kind}"),
                "yuan",
            ),
            Figure(
                f"income_households.{kind}",
                f"{zh}有收入记录户数",
                f"{en} targets with income on record",
                "state",
            ),
            Figure(
                f"income_sum.{kind}",
                f"{zh}收入合计",
                f"income of {en} targets (sum of per-capita × people)",
                "state",
                (),
                "yuan",
            ),
            Figure(
                f"income_people.{kind}",
                f"{zh}有收入记录人口",
                f"people in {en} targets with income on record",
                "state",
                (),
                "people",
            ),
        ]
    for step in STEPS:
        zh, en = STEP_LABELS[step]
        found.append(
            Figure(
                f"open_cases.{step}",
                f"在办：{zh}",
                f"open cases at step {en}",
                "state",
                (),
                "cases",
            )
        )
    month = [
        ("reported", "问题上报", "problems reported", ("ProblemReported",)),
        (
            "records",
            "部门数据比对",
            "department records matched",
            ("DepartmentRecordReceived",),
        ),
        ("flagged", "风险预警", "risk flags raised", ("RiskFlagged",)),
        ("opened", "立案", "cases opened", ("CaseOpened",)),
        (
            "reentries",
            "返贫再纳入",
            "cases of households that had left monitoring",
            ("CaseOpened:reentry",),
        ),
        ("visits", "入户核实", "home visits", ("HomeVisitRecorded",)),
        ("confirmed", "新增监测对象", "new monitoring targets", ("TargetConfirmed",)),
        ("rejected", "审定不纳入", "rejected", ("CaseRejected",)),
        (
            "decided",
            "审定",
            "decided (confirmed or rejected)",
            ("TargetConfirmed", "CaseRejected"),
        ),
        ("plans", "帮扶计划", "plans drawn", ("PlanDrawn",)),
        ("grants", "帮扶发放", "aid granted", ("AidGranted",)),
        (
            "done",
            "办理事项",
            "work done (visits, plans, grants)",
            ("HomeVisitRecorded", "PlanDrawn", "AidGranted"),
        ),
        (
            "exits",
            "风险消除退出",
            "targets exited (risk eliminated)",
            ("TargetExited",),
        ),
        ("closed", "销号", "cases closed", ("CaseClosed",)),
    ]
    for name, zh, en, types in month:
        found.append(
            Figure(
                f"month.{name}",
                f"本月{zh}",
                f"{en} this month",
                "month",
                types,
                "events",
            )
        )
    return found


FIGURES: dict[str, Figure] = {figure.name: figure for figure in _static()}
MONTH_FIGURES = [figure for figure in FIGURES.values() if figure.kind == "month"]
MONTH_EVENT_TYPES = sorted(
    {part.split(":")[0] for figure in MONTH_FIGURES for part in figure.parts}
)
# What the overview shows, in order; the rest are building blocks or ledger columns.
OVERVIEW_FIGURES = [
    "households",
    "people",
    "formerly_poor",
    "never_poor",
    "flagged",
    "targets",
    *[f"targets.{kind}" for kind in TARGET_TYPES],
    "target_people",
    *[f"target_people.{kind}" for kind in TARGET_TYPES],
    "targets.formerly_poor",
    "targets.never_poor",
    *[f"income.{kind}" for kind in TARGET_TYPES],
    *[f"income_households.{kind}" for kind in TARGET_TYPES],
    "month.confirmed",
    "month.exits",
    "open_cases",
    *[f"open_cases.{step}" for step in STEPS],
    "overdue",
    "escalated",
]
LEDGER_FIGURES = [
    "month.reported",
    "month.flagged",
    "month.confirmed",
    "month.rejected",
    "month.decided",
    "month.visits",
    "month.plans",
    "month.grants",
    "month.done",
    "month.closed",
]


def aid_figure(measure: str, unit: str, part: str) -> str:
    return f"aid.{measure}.{unit}.{part}"


def figure(name: str) -> Figure | None:
    """The figure of this name, the per-measure ones included."""
    found = FIGURES.get(name)
    if found is not None:
        return found
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == "aid" and parts[3] in AID_PARTS:
        measure = MEASURES.get(parts[1])
        zh_measure, en_measure = (
            (measure.name_zh, measure.name_en) if measure else (parts[1], parts[1])
        )
        zh_part, en_part = AID_PARTS[parts[3]]
        unit = "households" if parts[3] == "households" else parts[2]
        if parts[3] in ("grants", "stopped"):
            unit = "grants"
        return Figure(
            name,
            f"{zh_measure}{zh_part}",
            f"{en_measure}: {en_part}",
            "state",
            (),
            unit,
        )
    if len(parts) == 2 and parts[0] == "assigned":
        measure = MEASURES.get(parts[1])
        zh_measure, en_measure = (
            (measure.name_zh, measure.name_en) if measure else (parts[1], parts[1])
        )
        return Figure(
            name,
            f"{zh_measure}已分派",
            f"{en_measure}: assigned to a department",
            "state",
            (),
            "assignments",
        )
    return None


def labels(names: list[str]) -> dict[str, dict[str, str]]:
    found = {}
    for name in names:
        item = figure(name)
        if item is not None:
            found[name] = {"zh": item.zh, "en": item.en, "unit": item.unit}
    return found
