"""Composing the overview and the ledger from raw sums, and the exports."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from reporting.figures import FIGURES, LEDGER_FIGURES, OVERVIEW_FIGURES, figure
from reporting.ledger import csv_text, overview_table, table, xlsx
from reporting.overview import BadQuery, When, compose, measure_rows

TOWN = "510904101"


def sums(**values: str) -> dict[str, Decimal]:
    return {name.replace("__", "."): Decimal(value) for name, value in values.items()}


def test_every_figure_shown_has_both_labels():
    for name in OVERVIEW_FIGURES + LEDGER_FIGURES:
        item = figure(name)
        assert item is not None and item.zh and item.en, name
    assert figure("aid.serious_illness_aid.yuan.quantity").zh == "大病救助数量"
    assert figure("aid.serious_illness_aid.yuan.households").unit == "households"
    assert figure("nothing.like.this") is None
    assert all(f.kind in ("state", "ratio", "month") for f in FIGURES.values())


def test_rows_per_village_and_a_total_that_divides_sums_not_averages():
    state = defaultdict(
        dict,
        {
            f"{TOWN}201": sums(
                households="3",
                targets__low_income="1",
                income_sum__low_income="24000",
                income_people__low_income="3",
            ),
            f"{TOWN}202": sums(
                households="2",
                targets__low_income="1",
                income_sum__low_income="6000",
                income_people__low_income="1",
            ),
        },
    )
    month = defaultdict(
        dict, {f"{TOWN}202": {"TargetConfirmed": 2, "CaseOpened:reentry": 1}}
    )
    found = compose(TOWN, None, When.of("2026-03", None, None), state, month, None)

    assert [row["area_code"] for row in found["rows"]] == [f"{TOWN}201", f"{TOWN}202"]
    first, second = (row["figures"] for row in found["rows"])
    assert first["income.low_income"] == 8000 and second["income.low_income"] == 6000
    total = found["total"]["figures"]
    assert total["households"] == 5 and total["targets.low_income"] == 2
    assert total["income.low_income"] == 7500  # 30,000 yuan over 4 people
    assert total["month.confirmed"] == 2
    assert found["total"]["drill"] == ("/figures/{figure}?area=510904101&month=2026-03")
    assert found["labels"]["targets.low_income"]["zh"] == "低收入型"


def test_a_village_is_broken_down_by_village_group():
    village = f"{TOWN}201"
    state = defaultdict(dict, {"1": sums(households="2"), "2": sums(households="1")})
    found = compose(village, None, When.of("2026-03", None, None), state, {}, None)
    assert [(r["area_code"], r["village_group"]) for r in found["rows"]] == [
        (village, "1"),
        (village, "2"),
    ]
    assert "group=2" in found["rows"][1]["drill"]
    assert found["total"]["figures"]["households"] == 3


def test_aid_shows_stopped_grants_apart_and_assignments_beside():
    rows = measure_rows(
        sums(
            aid__temporary_aid__yuan__grants="2",
            aid__temporary_aid__yuan__quantity="3000.50",
            aid__temporary_aid__yuan__households="2",
            aid__temporary_aid__yuan__stopped="1",
            aid__temporary_aid__yuan__stopped_quantity="500",
            assigned__temporary_aid="3",
            assigned__land_rent="1",
        )
    )
    assert [row["measure"] for row in rows] == ["land_rent", "temporary_aid"]
    aid = rows[1]
    assert (aid["grants"], aid["quantity"], aid["households"]) == (2, 3000.5, 2)
    assert (aid["stopped"], aid["stopped_quantity"], aid["assigned"]) == (1, 500, 3)
    assert rows[0]["unit"] == "mu" and rows[0]["grants"] == 0


def test_as_known_on_a_day_answers_for_that_day():
    when = When.of(None, None, date(2026, 4, 5))
    assert when.as_of == date(2026, 4, 5) and when.month == "2026-04"
    assert when.historical
    assert not When.of("2026-03", None, None).historical
    with pytest.raises(BadQuery):
        When.of("2026-13", None, None)


def ledger_sample() -> dict:
    cell = {"month": 2, "previous": 5, "change": -3}
    return {
        "area": TOWN,
        "month": "2026-03",
        "previous_month": "2026-02",
        "columns": LEDGER_FIGURES,
        "rows": [
            {
                "level": "town",
                "area_code": TOWN,
                "village_group": None,
                "name_zh": "安居镇",
                "name_en": "Anju Town",
                "figures": {name: cell for name in LEDGER_FIGURES},
            }
        ],
    }


def test_the_ledger_exports_with_chinese_headers_to_xlsx_and_csv():
    headers, lines = table(ledger_sample())
    assert headers[:4] == ["层级", "区划代码", "名称", "村民小组"]
    assert headers[4:7] == ["问题上报", "问题上报（上月）", "问题上报（增减）"]
    assert lines[0][:7] == ["乡镇", TOWN, "安居镇", "", 2, 5, -3]

    book = load_workbook(io.BytesIO(xlsx("工作台账", headers, lines)))
    sheet = book["工作台账"]
    assert [cell.value for cell in sheet[1]][:5] == headers[:5]
    assert [cell.value for cell in sheet[2]][:7] == [
        "乡镇",
        TOWN,
        "安居镇",
        None,
        2,
        5,
        -3,
    ]

    text = csv_text(headers, lines).decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == headers and parsed[1][4:7] == ["2", "5", "-3"]
    english, _ = table(ledger_sample(), "en")
    assert english[4] == "problems reported"


def test_the_overview_exports_its_rows_and_total():
    found = compose(
        TOWN,
        None,
        When.of("2026-03", None, None),
        defaultdict(dict, {f"{TOWN}201": sums(households="4")}),
        defaultdict(dict),
        None,
    )
    headers, lines = overview_table(found)
    assert headers[3] == "登记户数"
    assert [line[0] for line in lines] == [f"{TOWN}201", TOWN]
    assert lines[-1][3] == 4
