"""A small demo county, loaded through the services' own HTTP interfaces."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from fangpin.areas import DEMO_VILLAGES
from fangpin.auth import DEMO_PASSWORD
from fangpin.eventstore import stable_id
from fangpin.idnumber import make_id_number

SURNAMES = "王李张刘陈杨黄赵周吴徐孙"
GIVEN = ["建国", "秀英", "志强", "桂兰", "德明", "玉珍", "文华", "小红", "国平", "春梅"]
HOUSEHOLDS_PER_VILLAGE = 3


def demo_households() -> list[dict[str, Any]]:
    households = []
    serial = 0
    for village_index, village in enumerate(sorted(DEMO_VILLAGES)):
        for number in range(HOUSEHOLDS_PER_VILLAGE):
            index = village_index * HOUSEHOLDS_PER_VILLAGE + number
            surname = SURNAMES[index % len(SURNAMES)]
            members = []
            for relation, born in (
                ("head", date(1962 + index % 20, 1 + index % 12, 1 + index % 27)),
                ("spouse", date(1965 + index % 20, 1 + (index + 3) % 12, 5)),
                ("child", date(2005 + index % 12, 1 + (index + 6) % 12, 9)),
            ):
                serial += 1
                members.append(
                    {
                        "name": surname + GIVEN[(index + serial) % len(GIVEN)],
                        "id_number": make_id_number("510904", born, serial),
                        "relation": relation,
                        "labour_capacity": "none" if index % 7 == 3 else "full",
                        "disability_grade": 2 if index % 7 == 3 else None,
                    }
                )
            households.append(
                {
                    "household_id": str(stable_id("demo-household", index)),
                    "area_code": village,
                    "village_group": str(1 + number % 2),
                    "poverty_status": "formerly_poor" if index % 3 else "never_poor",
                    "left_poverty_year": 2019 if index % 3 else None,
                    "phone": f"138{index:08d}",
                    "members": members,
                }
            )
    return households


def token(base_url: str, username: str) -> str:
    response = httpx.post(
        f"{base_url}/auth/token",
        data={"username": username, "password": DEMO_PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def load_demo_county(urls: dict[str, str]) -> dict[str, int]:
    """Register the demo households; on first load also add reports and records.

    Loading twice changes nothing: households already there answer 409.
    """
    intake = urls["intake"]
    district = {"Authorization": f"Bearer {token(intake, 'district01')}"}
    households = demo_households()
    created = 0
    for household in households:
        response = httpx.post(
            f"{intake}/households", json=household, headers=district, timeout=30
        )
        if response.status_code == 201:
            created += 1
        elif response.status_code != 409:
            response.raise_for_status()
    if created == 0:
        return {"households": len(households), "new": 0}

    grid = {"Authorization": f"Bearer {token(intake, 'grid01')}"}
    own_grid = [
        h
        for h in households
        if h["area_code"] == "510904101201" and h["village_group"] == "1"
    ]
    for household, category in zip(own_grid, ["illness", "income_drop"], strict=False):
        httpx.post(
            f"{intake}/reports",
            json={
                "household_id": household["household_id"],
                "category": category,
                "description": "入户走访发现的问题（演示）",
                "observed_on": date.today().isoformat(),
                "amount": "8000.00",
            },
            headers=grid,
            timeout=30,
        ).raise_for_status()

    medical = {"Authorization": f"Bearer {token(intake, 'medical01')}"}
    patient = households[4]["members"][0]["id_number"]
    httpx.post(
        f"{intake}/departments/medical_insurance/hospital_settlement/records",
        json={
            "records": [
                {
                    "record_id": "DEMO-MED-0001",
                    "id_number": patient,
                    "occurred_on": date.today().isoformat(),
                    "facts": {
                        "total_cost": 48000.0,
                        "reimbursed": 30500.0,
                        "out_of_pocket": 17500.0,
                    },
                }
            ]
        },
        headers=medical,
        timeout=30,
    ).raise_for_status()
    return {"households": len(households), "new": created}
