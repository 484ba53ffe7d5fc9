"""The catalogue of measures, by the target type they serve (shared reference data:
casework plans with it, assistance grants from it)."""

from __future__ import annotations

from dataclasses import dataclass

from fangpin.contracts import TargetType


@dataclass(frozen=True)
class Measure:
    code: str
    name_zh: str
    name_en: str
    target_type: TargetType
    department: str
    unit: str


LOW, EXPENSE, NET = (
    TargetType.LOW_INCOME,
    TargetType.EXPENSE_HARDSHIP,
    TargetType.SAFETY_NET,
)

MEASURES = {
    measure.code: measure
    for measure in [
        # The "five gold" income kinds (五金) for low-income targets.
        Measure("land_rent", "土地流转租金", "Land rent", LOW, "agriculture", "mu"),
        Measure(
            "coop_dividend",
            "合作社股金分红",
            "Cooperative dividend",
            LOW,
            "agriculture",
            "yuan",
        ),
        Measure(
            "own_industry",
            "自主产业现金收入",
            "Own small industry",
            LOW,
            "agriculture",
            "yuan",
        ),
        Measure(
            "wages_away",
            "外出务工薪金",
            "Wages from work away",
            LOW,
            "human_resources",
            "people",
        ),
        Measure(
            "wages_local",
            "就近就业薪金",
            "Wages from local jobs",
            LOW,
            "human_resources",
            "people",
        ),
        Measure(
            "welfare_post",
            "公益性岗位",
            "Public-welfare post",
            LOW,
            "human_resources",
            "places",
        ),
        Measure(
            "policy_bonus",
            "政策奖补资金",
            "Policy bonus",
            LOW,
            "poverty_office",
            "yuan",
        ),
        # Relief for expense hardship.
        Measure(
            "medical_insurance",
            "基本医疗保险报销",
            "Medical insurance",
            EXPENSE,
            "medical_insurance",
            "yuan",
        ),
        Measure(
            "chronic_aid",
            "慢病救助",
            "Chronic-disease aid",
            EXPENSE,
            "medical_insurance",
            "yuan",
        ),
        Measure(
            "serious_illness_aid",
            "大病救助",
            "Serious-illness aid",
            EXPENSE,
            "medical_insurance",
            "yuan",
        ),
        Measure(
            "health_fund",
            "健康扶贫基金",
            "Health relief fund",
            EXPENSE,
            "health",
            "yuan",
        ),
        Measure(
            "temporary_aid",
            "临时救助",
            "Temporary aid",
            EXPENSE,
            "civil_affairs",
            "yuan",
        ),
        Measure(
            "education_fund",
            "教育救助基金",
            "Education relief fund",
            EXPENSE,
            "education",
            "yuan",
        ),
        Measure("loan", "小额信贷", "Micro-loan", EXPENSE, "finance", "yuan"),
        Measure(
            "poverty_insurance",
            "防贫保险",
            "Poverty insurance",
            EXPENSE,
            "poverty_office",
            "yuan",
        ),
        Measure(
            "social_donation",
            "社会捐助",
            "Social donation",
            EXPENSE,
            "poverty_office",
            "yuan",
        ),
        # The three guarantees for the safety net.
        Measure(
            "minimum_allowance",
            "最低生活保障",
            "Minimum living allowance",
            NET,
            "civil_affairs",
            "yuan",
        ),
        Measure(
            "medical_cover",
            "医疗保障兜底",
            "Medical cover",
            NET,
            "medical_insurance",
            "yuan",
        ),
        Measure(
            "pension_premium",
            "代缴养老保险",
            "Basic pension premium",
            NET,
            "human_resources",
            "yuan",
        ),
    ]
}
