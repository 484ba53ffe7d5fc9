"""The registry spreadsheet: one row per member, rows grouped into households by
the household number (户编号).

Household columns (village, group, poverty status, phone, housing, water, income)
are read from the head's row (与户主关系 = 户主); on the other rows they may be
left empty and are not read. Income is one year per file: the 收入年度 column
names the year, the amounts beside it are the household's annual income by
source, and 人均纯收入 the per-capita net income (left empty, it is the sources'
sum divided by the members).

Every problem is reported with its row, the column's Chinese header and a reason
that never repeats a name or an ID number.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from fangpin.areas import county_today
from fangpin.auth import Principal
from fangpin.contracts import PovertyStatus
from fangpin.idnumber import InvalidIdNumber, normalise_id_number
from intake.errors import BadFile
from intake.registry import (
    Health,
    HouseholdData,
    HousingRating,
    IncomeData,
    IncomeSource,
    LabourCapacity,
    MemberData,
    Relation,
    Schooling,
    amount,
    household_id_for,
)
from intake.spreadsheet import SheetOut, Value

SHEET = "家庭成员"
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    note: str
    required: bool = True
    aliases: tuple[str, ...] = ()
    width: int = 12
    text: bool = False


COLUMNS = (
    Column(
        "household_number",
        "户编号",
        "The household's number, unique in the county; every member's row "
        "carries it. 户编号，县内唯一，每位成员一行都要填写。",
        aliases=("户号", "家庭编号"),
        width=16,
        text=True,
    ),
    Column(
        "area_code",
        "村代码",
        "12-digit statistical code of the village (head's row). "
        "12位村级统计用区划代码（户主行）。",
        aliases=("行政区划代码", "村级区划代码"),
        width=16,
        text=True,
    ),
    Column(
        "village_group",
        "村民小组",
        "The village group, e.g. 3 (head's row). 村民小组，如 3（户主行）。",
        aliases=("组",),
    ),
    Column(
        "poverty_status",
        "贫困状态",
        "脱贫户 (formerly poor) or 一般农户 (never poor) (head's row).",
        aliases=("户类型", "农户类型"),
    ),
    Column(
        "left_poverty_year",
        "脱贫年度",
        "Year the household left poverty; only for 脱贫户 (head's row).",
        required=False,
        aliases=("脱贫年份",),
    ),
    Column(
        "phone",
        "联系电话",
        "11-digit mobile number (head's row, optional).",
        required=False,
        aliases=("电话", "手机号码"),
        width=14,
        text=True,
    ),
    Column(
        "housing_rating",
        "住房安全等级",
        "A, B, C or D; C and D are unsafe (head's row, optional).",
        required=False,
        aliases=("住房等级",),
    ),
    Column(
        "drinking_water_ok",
        "饮水安全",
        "是 (safe) or 否 (not safe) (head's row, optional).",
        required=False,
        aliases=("饮水安全保障",),
    ),
    Column("name", "姓名", "The member's name.", width=10),
    Column(
        "id_number",
        "身份证号",
        "18-character resident ID number; format the column as text. "
        "18位身份证号，请设置为文本格式。",
        aliases=("身份证号码", "证件号码"),
        width=22,
        text=True,
    ),
    Column(
        "relation",
        "与户主关系",
        "户主 (exactly one per household), 配偶, 子女, 儿媳/女婿, 孙子女, 父母, "
        "岳父母/公婆, 祖父母, 兄弟姐妹, 其他.",
    ),
    Column(
        "labour_capacity",
        "劳动能力",
        "全部 / 普通劳动力 (full), 部分 / 弱劳动力 (partial), 无 / 丧失劳动力 (none).",
    ),
    Column(
        "disability_grade",
        "残疾等级",
        "一级 to 四级 (1-4, 1 is the most severe); empty if not disabled.",
    ),
    Column(
        "health",
        "健康状况",
        "健康 (empty means healthy), 慢性病 (chronic), 大病 (serious illness).",
    ),
    Column(
        "schooling",
        "在校情况",
        "非在校 (empty), 学前, 义务教育, 高中, 中职, 大专及以上.",
    ),
    Column(
        "income_year",
        "收入年度",
        "Year of the income below (head's row, optional).",
        required=False,
    ),
    Column(
        "per_capita_net_income",
        "人均纯收入",
        "Per-capita annual net income, yuan; empty: sources / members.",
        required=False,
        aliases=("人均纯收入(元)",),
    ),
    Column(
        "land_rent",
        "土地流转租金",
        "Household's annual rent from transferred land, yuan (租金).",
        required=False,
        aliases=("土地流转租金(元)", "租金收入"),
    ),
    Column(
        "dividends",
        "股金分红",
        "Dividends from cooperative shares, yuan (股金).",
        required=False,
        aliases=("股金分红(元)", "股金收入"),
    ),
    Column(
        "own_industry",
        "自营产业收入",
        "Net cash from the household's own small industries, yuan (现金).",
        required=False,
        aliases=("自营产业收入(元)", "生产经营性收入"),
    ),
    Column(
        "wages",
        "工资性收入",
        "Wages from work, yuan (薪金).",
        required=False,
        aliases=("工资性收入(元)", "务工收入"),
    ),
    Column(
        "policy_bonus",
        "政策奖补",
        "Policy bonuses and subsidies, yuan (奖金).",
        required=False,
        aliases=("政策奖补(元)", "奖补收入"),
    ),
    Column(
        "transfers",
        "转移性收入",
        "Other transfers (pensions, allowances), yuan.",
        required=False,
        aliases=("转移性收入(元)",),
    ),
)
BY_KEY = {column.key: column for column in COLUMNS}
INCOME_KEYS = ("per_capita_net_income", *(source.value for source in IncomeSource))


def _plain(text: str) -> str:
    """Full-width forms folded, blanks and a trailing "(元)" dropped, lower case."""
    folded = "".join(unicodedata.normalize("NFKC", text).split()).lower()
    return folded.removesuffix("(元)").lstrip("*")


_HEADERS = {
    _plain(name): column.key
    for column in COLUMNS
    for name in (column.header, column.key, *column.aliases)
}


def _vocabulary(kind: type[E], words: dict[str, tuple[str, ...]]) -> dict[str, E]:
    found = {_plain(member.value): member for member in kind}
    for value, synonyms in words.items():
        for word in synonyms:
            found[_plain(word)] = kind(value)
    return found


POVERTY_WORDS = _vocabulary(
    PovertyStatus,
    {
        "formerly_poor": ("脱贫户", "已脱贫户", "脱贫不稳定户", "贫困户", "建档立卡户"),
        "never_poor": ("一般农户", "非贫困户", "边缘易致贫户", "普通农户"),
    },
)
RELATION_WORDS = _vocabulary(
    Relation,
    {
        "head": ("户主", "本人"),
        "spouse": ("配偶", "妻子", "丈夫", "妻", "夫"),
        "child": ("子女", "之子", "之女", "儿子", "女儿", "子", "女", "养子", "养女"),
        "child_in_law": ("儿媳", "之儿媳", "女婿", "之女婿"),
        "grandchild": ("孙子女", "孙子", "孙女", "之孙子", "之孙女", "外孙子女"),
        "parent": ("父母", "父亲", "母亲", "之父", "之母"),
        "parent_in_law": ("岳父母", "公婆", "岳父", "岳母", "公公", "婆婆"),
        "grandparent": ("祖父母", "祖父", "祖母", "外祖父母", "外祖父", "外祖母"),
        "sibling": ("兄弟姐妹", "兄弟", "姐妹", "兄", "弟", "姐", "妹"),
        "other": ("其他", "其它"),
    },
)
LABOUR_WORDS = _vocabulary(
    LabourCapacity,
    {
        "full": ("全部", "完全", "普通劳动力", "技能劳动力", "有劳动能力", "有"),
        "partial": ("部分", "弱劳动力", "半劳动力", "弱劳动力或半劳动力"),
        "none": ("无", "无劳动力", "丧失劳动力", "丧失劳动能力", "无劳动能力"),
    },
)
HEALTH_WORDS = _vocabulary(
    Health,
    {
        "healthy": ("健康", "良好"),
        "chronic": ("慢性病", "长期慢性病", "患有慢性病"),
        "serious": ("大病", "患有大病", "重病", "重大疾病"),
    },
)
SCHOOLING_WORDS = _vocabulary(
    Schooling,
    {
        "not_in_school": ("非在校", "非在校生", "不在校", "否", "无"),
        "preschool": ("学前", "学前教育", "幼儿园"),
        "compulsory": ("义务教育", "小学", "初中", "七年级", "九年级"),
        "high_school": ("高中", "普通高中"),
        "vocational": ("中职", "中专", "职高", "技校", "中等职业教育"),
        "college": ("大专及以上", "大专", "高职", "本科", "大学", "研究生"),
    },
)
GRADE_WORDS = {
    _plain(word): grade
    for grade, words in {
        1: ("1", "一级", "1级", "一级残疾"),
        2: ("2", "二级", "2级", "二级残疾"),
        3: ("3", "三级", "3级", "三级残疾"),
        4: ("4", "四级", "4级", "四级残疾"),
    }.items()
    for word in words
}
NOT_DISABLED = {_plain(word) for word in ("无", "否", "0", "非残疾", "none")}
YES_NO = {
    **{_plain(word): True for word in ("是", "安全", "有保障", "true", "yes", "1")},
    **{_plain(word): False for word in ("否", "不安全", "无保障", "false", "no", "0")},
}


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    reason: str
    household_number: str | None = None


@dataclass
class Draft:
    """The rows of one household as read, before it is saved."""

    number: str
    rows: list[int] = field(default_factory=list)
    members: list[tuple[int, MemberData]] = field(default_factory=list)
    head_row: int | None = None
    fields: dict[str, Any] | None = None
    income: tuple[int, Decimal | None, dict[str, Decimal]] | None = None
    problems: dict[int, Problem] = field(default_factory=dict)

    def fail(self, row: int, column: str, reason: str) -> None:
        self.problems.setdefault(row, Problem(row, column, reason, self.number))

    def cascade(self, reason: str) -> list[Problem]:
        """This household's problems, and a note on every other row of it."""
        first = min(self.problems)
        note = reason.format(row=first)
        return [
            self.problems.get(row)
            or Problem(row, BY_KEY["household_number"].header, note, self.number)
            for row in self.rows
        ]

    def data(self) -> HouseholdData:
        assert self.fields is not None
        members = tuple(member for _, member in self.members)
        incomes: tuple[IncomeData, ...] = ()
        if self.income is not None:
            year, per_capita, sources = self.income
            if per_capita is None:
                per_capita = amount(sum(sources.values(), Decimal(0)) / len(members))
            incomes = (IncomeData(year, per_capita, sources),)
        return HouseholdData(
            household_id=household_id_for(self.fields["area_code"], self.number),
            household_number=self.number,
            members=members,
            incomes=incomes,
            **self.fields,
        )


@dataclass
class Parsed:
    drafts: list[Draft]
    problems: list[Problem]
    rows: int


NOT_IMPORTED = "not imported: row {row} of the same household has a problem"


class RegistrySheet:
    """Reads member rows into household drafts; raises :class:`BadFile` when the
    header row does not fit the template."""

    def __init__(self, headers: list[str]):
        self.index: dict[str, int] = {}
        unknown = []
        for position, header in enumerate(headers):
            key = _HEADERS.get(_plain(header))
            if key is None:
                if header:
                    unknown.append(header)
                continue
            if key in self.index:
                raise BadFile(f"the column {BY_KEY[key].header} appears twice")
            self.index[key] = position
        missing = [c.header for c in COLUMNS if c.required and c.key not in self.index]
        if missing:
            hint = f"; unknown columns: {', '.join(unknown[:10])}" if unknown else ""
            raise BadFile(
                f"missing columns: {', '.join(missing)}{hint}. Download the "
                "template (GET /imports/template) for the expected headers"
            )

    def read(
        self,
        rows: Iterator[tuple[int, list[Value]]],
        principal: Principal,
        progress: Callable[[int], None] = lambda count: None,
    ) -> Parsed:
        drafts: dict[str, Draft] = {}
        loose: list[Problem] = []
        seen: dict[str, tuple[str, int]] = {}
        count = 0
        for number, cells in rows:
            count += 1
            if count % 10_000 == 0:
                progress(count)
            values = {key: cells[position] for key, position in self.index.items()}
            household_number = _code(values["household_number"])
            if not household_number or len(household_number) > 40:
                loose.append(
                    Problem(
                        number,
                        BY_KEY["household_number"].header,
                        "must be 1 to 40 characters; every member's row needs "
                        "its household's number",
                    )
                )
                continue
            draft = drafts.setdefault(household_number, Draft(household_number))
            draft.rows.append(number)
            member = self._member(draft, number, values, seen)
            if member is not None and member.relation is Relation.HEAD:
                self._household(draft, number, values, principal)
        progress(count)

        problems = list(loose)
        for draft in drafts.values():
            if draft.head_row is None and not draft.problems:
                draft.fail(
                    draft.rows[0],
                    BY_KEY["relation"].header,
                    "the household has no head (户主)",
                )
            if draft.problems:
                problems.extend(draft.cascade(NOT_IMPORTED))
        problems.sort(key=lambda problem: problem.row)
        return Parsed(list(drafts.values()), problems, count)

    def _member(
        self,
        draft: Draft,
        row: int,
        values: dict[str, Value],
        seen: dict[str, tuple[str, int]],
    ) -> MemberData | None:
        try:
            name = _text(values["name"], "name")
            if len(name) > 50:
                raise _Failed("name", "is longer than 50 characters")
            number = _id_number(values["id_number"])
        except _Failed as failed:
            draft.fail(row, failed.column, failed.reason)
            return None
        earlier = seen.get(number)
        if earlier is not None:
            where, earlier_row = earlier
            reason = (
                f"the same person is already on row {earlier_row} of this household"
                if where == draft.number
                else f"the same person is also in household {where} (row "
                f"{earlier_row}); one person belongs to one household"
            )
            draft.fail(row, BY_KEY["id_number"].header, reason)
            return None
        seen[number] = (draft.number, row)
        try:
            member = MemberData(
                name=name,
                id_number=number,
                relation=_word(values["relation"], "relation", RELATION_WORDS),
                labour_capacity=_word(
                    values["labour_capacity"], "labour_capacity", LABOUR_WORDS
                ),
                disability_grade=_grade(values["disability_grade"]),
                health=_word(values["health"], "health", HEALTH_WORDS, Health.HEALTHY),
                schooling=_word(
                    values["schooling"],
                    "schooling",
                    SCHOOLING_WORDS,
                    Schooling.NOT_IN_SCHOOL,
                ),
            )
        except _Failed as failed:
            draft.fail(row, failed.column, failed.reason)
            return None
        if member.relation is Relation.HEAD:
            if draft.head_row is not None:
                draft.fail(
                    row,
                    BY_KEY["relation"].header,
                    f"a second head (户主); the first is on row {draft.head_row}",
                )
                return None
            draft.head_row = row
        draft.members.append((row, member))
        return member

    def _household(
        self,
        draft: Draft,
        row: int,
        values: dict[str, Value],
        principal: Principal,
    ) -> None:
        try:
            area_code = _code(values["area_code"])
            if len(area_code) != 12 or not area_code.isdigit():
                raise _Failed("area_code", "must be the village's 12-digit code")
            if not principal.covers(area_code):
                raise _Failed("area_code", "the village is outside your area")
            group = _code(values["village_group"])
            if not group or len(group) > 10:
                raise _Failed("village_group", "must be 1 to 10 characters")
            status = _word(values["poverty_status"], "poverty_status", POVERTY_WORDS)
            left_in = _year(values.get("left_poverty_year"), "left_poverty_year")
            if status is PovertyStatus.FORMERLY_POOR and left_in is None:
                raise _Failed("left_poverty_year", "is needed for a 脱贫户")
            if status is PovertyStatus.NEVER_POOR and left_in is not None:
                raise _Failed("left_poverty_year", "only a 脱贫户 has one")
            if left_in is not None and not 2013 <= left_in <= county_today().year:
                raise _Failed("left_poverty_year", "must lie between 2013 and now")
            phone = _code(values.get("phone")) or None
            if phone is not None and not (len(phone) == 11 and phone.isdigit()):
                raise _Failed("phone", "must be an 11-digit number")
            rating = _code(values.get("housing_rating")).upper() or None
            if rating is not None and rating not in HousingRating.__members__:
                raise _Failed("housing_rating", "must be A, B, C or D")
            water = _yes_no(values.get("drinking_water_ok"), "drinking_water_ok")
            draft.income = self._income(values)
        except _Failed as failed:
            draft.fail(row, failed.column, failed.reason)
            return
        draft.fields = {
            "area_code": area_code,
            "village_group": group,
            "poverty_status": status,
            "left_poverty_year": left_in,
            "phone": phone,
            "housing_rating": HousingRating(rating) if rating else None,
            "drinking_water_ok": water,
        }

    def _income(
        self, values: dict[str, Value]
    ) -> tuple[int, Decimal | None, dict[str, Decimal]] | None:
        year = _year(values.get("income_year"), "income_year")
        given = {}
        for key in INCOME_KEYS:
            value = values.get(key)
            if value is None or value == "":
                continue
            try:
                given[key] = amount(value)
            except ValueError as error:
                raise _Failed(key, str(error)) from None
        if year is None:
            if given:
                raise _Failed("income_year", "is needed when income amounts are given")
            return None
        if not given:
            raise _Failed("income_year", "has no amounts beside it")
        per_capita = given.pop("per_capita_net_income", None)
        return year, per_capita, given


class _Failed(Exception):
    def __init__(self, key: str, reason: str):
        super().__init__(reason)
        self.column = BY_KEY[key].header
        self.reason = reason


def _code(value: Value) -> str:
    """Codes and numbers typed into number cells come back as numbers."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def _text(value: Value, key: str) -> str:
    text = _code(value)
    if not text:
        raise _Failed(key, "is empty")
    return text


def _id_number(value: Value) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _Failed(
            "id_number",
            "is stored as a number, which loses digits; format the column as text "
            "and enter the numbers again",
        )
    try:
        return normalise_id_number(_text(value, "id_number"))
    except InvalidIdNumber as error:
        raise _Failed("id_number", str(error)) from None


def _word(value: Value, key: str, words: dict[str, E], empty: E | None = None) -> E:
    text = _code(value)
    if not text:
        if empty is not None:
            return empty
        raise _Failed(key, "is empty")
    found = words.get(_plain(text))
    if found is None:
        raise _Failed(key, f"is not one of the allowed values: {BY_KEY[key].note}")
    return found


def _grade(value: Value) -> int | None:
    text = _plain(_code(value))
    if not text or text in NOT_DISABLED:
        return None
    if text not in GRADE_WORDS:
        raise _Failed("disability_grade", "must be 一级 to 四级 (1 to 4), or empty")
    return GRADE_WORDS[text]


def _year(value: Value, key: str) -> int | None:
    text = _code(value)
    if not text:
        return None
    if not (text.isdigit() and len(text) == 4):
        raise _Failed(key, "must be a year such as 2019")
    return int(text)


def _yes_no(value: Value, key: str) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _plain(_code(value))
    if not text:
        return None
    if text not in YES_NO:
        raise _Failed(key, "must be 是 or 否")
    return YES_NO[text]


def template_sheets() -> list[SheetOut]:
    """The downloadable template: an empty member sheet and a sheet of notes."""
    members = SheetOut(
        SHEET,
        [column.header for column in COLUMNS],
        [],
        widths=[column.width for column in COLUMNS],
        text_columns=[i for i, column in enumerate(COLUMNS) if column.text],
    )
    notes = SheetOut(
        "说明",
        ["列 (column)", "必需 (required)", "说明 (notes)"],
        [
            [column.header, "是" if column.required else "否", column.note]
            for column in COLUMNS
        ]
        + [
            [],
            [
                "",
                "",
                "One row per member. Household columns and income are read "
                "from the head's row only (户主行). Re-importing a file changes "
                "nothing; a changed row updates its household.",
            ],
        ],
        widths=[16, 14, 90],
    )
    return [members, notes]
