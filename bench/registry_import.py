"""How fast a county's household registry imports, next to raw PostgreSQL.

    .venv/bin/python bench/registry_import.py [--households N] [--format xlsx|csv]
        [--database-url URL] [--chunk 500]

A county is generated (households of one to six members, one row per member as in
the registry template, income on the head's row) and written as XLSX or CSV. It is
then imported through intake's importer into PostgreSQL (an embedded server in a
temporary folder unless ``--database-url`` is given), imported a second time
(which must write nothing), and event-sized rows are inserted in batches into the
same server as a baseline. The figures are extrapolated to a county of 300,000
households. On shared machines absolute numbers drift; compare the ratios.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import secrets
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import psycopg
from benchkit import rate, say
from eventsourcing.cryptography import AESCipher

from fangpin.auth import Principal
from fangpin.contracts import Role
from fangpin.embedded import start_postgres
from fangpin.eventstore import BatchProcessRecorder
from fangpin.idnumber import make_id_number
from fangpin.settings import Settings
from intake.application import IntakeApplication
from intake.imports import Importer, ImportJob, MemoryJobs
from intake.registryfile import COLUMNS, SHEET, RegistrySheet
from intake.spreadsheet import open_table

COUNTY = "510904"
COUNTY_HOUSEHOLDS = 300_000
HOUSEHOLDS_PER_VILLAGE = 700
TODAY = date(2026, 12, 1)
SURNAMES = "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗"
GIVEN = "建国秀英志强桂兰德明玉珍文华小红国平春梅永刚丽娟海燕金凤"
DISTRICT = Principal(user_id="bench", role=Role.DISTRICT, area_code=COUNTY)


# --- a generated county -----------------------------------------------------------


class County:
    """Households with plausible members; every ID number is valid and unique."""

    def __init__(self, households: int, seed: int = 2020):
        self.households = households
        self.random = random.Random(seed)
        self.serials: dict[date, int] = {}

    def id_number(self, age: int) -> str:
        # make_id_number keeps three serial digits: a day holds 1000 people, so
        # a full day moves the birth date on by one.
        born = TODAY - timedelta(days=365 * age + self.random.randrange(365))
        while self.serials.get(born, 0) >= 1000:
            born -= timedelta(days=1)
        serial = self.serials.get(born, 0)
        self.serials[born] = serial + 1
        return make_id_number(COUNTY, born, serial)

    def member(self, relation: str, age: int) -> dict[str, Any]:
        pick = self.random.random
        grade = None
        if pick() < 0.06:
            grade = self.random.choice(["一级", "二级", "三级", "三级", "四级", "四级"])
        if age < 16 or age > 75 or grade in ("一级", "二级"):
            labour = "无"
        elif age > 60 or pick() < 0.05:
            labour = "部分"
        else:
            labour = "全部"
        health = "慢性病" if pick() < 0.12 else ("大病" if pick() < 0.02 else "健康")
        schooling = ""
        if 3 <= age <= 5:
            schooling = "学前"
        elif 6 <= age <= 15:
            schooling = "义务教育"
        elif 16 <= age <= 18:
            schooling = self.random.choice(["高中", "高中", "中职", ""])
        elif 19 <= age <= 22 and pick() < 0.4:
            schooling = "大专及以上"
        return {
            "name": self.random.choice(SURNAMES)
            + "".join(self.random.sample(GIVEN, 2)),
            "id_number": self.id_number(age),
            "relation": relation,
            "labour_capacity": labour,
            "disability_grade": grade,
            "health": health,
            "schooling": schooling,
        }

    def rows(self) -> Iterator[list[Any]]:
        keys = [column.key for column in COLUMNS]
        for index in range(self.households):
            village = index // HOUSEHOLDS_PER_VILLAGE
            area = f"{COUNTY}{101 + village // 20:03d}{201 + village % 20:03d}"
            head_age = self.random.randint(28, 85)
            members = [self.member("户主", head_age)]
            size = self.random.choices(range(1, 7), [15, 25, 22, 20, 12, 6])[0]
            if size > 1:
                spouse_age = max(20, head_age + self.random.randint(-5, 5))
                members.append(self.member("配偶", spouse_age))
            for _ in range(size - 2):
                if head_age > 70:
                    members.append(self.member("孙子女", self.random.randint(1, 20)))
                else:
                    child_age = max(0, head_age - self.random.randint(22, 35))
                    members.append(self.member("子女", child_age))
            poor = self.random.random() < 0.2
            household = {
                "household_number": f"{COUNTY}{index:08d}",
                "area_code": area,
                "village_group": str(1 + index % 9),
                "poverty_status": "脱贫户" if poor else "一般农户",
                "left_poverty_year": self.random.randint(2014, 2020) if poor else None,
                "phone": f"13{self.random.randrange(10**9):09d}",
                "housing_rating": self.random.choices("ABCD", [60, 30, 8, 2])[0],
                "drinking_water_ok": "是" if self.random.random() < 0.97 else "否",
                "income_year": 2025,
                "wages": self.random.randrange(0, 60000, 100),
                "own_industry": self.random.randrange(0, 20000, 100),
                "land_rent": self.random.choice([0, 0, 0, 800, 1600]),
                "dividends": self.random.choice([0, 0, 0, 0, 500]),
                "policy_bonus": self.random.choice([0, 0, 300, 1000]),
                "transfers": self.random.randrange(0, 6000, 100),
            }
            for position, member in enumerate(members):
                values = dict(member)
                values["household_number"] = household["household_number"]
                if position == 0:
                    values.update(household)
                yield [values.get(key) for key in keys]


def write_csv(path: Path, county: County) -> int:
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column.header for column in COLUMNS])
        for row in county.rows():
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    return count


def write_xlsx(path: Path, county: County) -> int:
    """A workbook as Excel writes it (shared strings, numbers as numbers), built
    directly: openpyxl takes minutes for a county's million rows."""
    letters = [_letter(index) for index in range(len(COLUMNS))]
    strings: dict[str, int] = {}
    parts = []
    count = 0
    for number, row in enumerate(
        [[column.header for column in COLUMNS], *county.rows()], start=1
    ):
        cells = []
        for letter, value in zip(letters, row, strict=True):
            if value is None or value == "":
                continue
            if isinstance(value, int):
                cells.append(f'<c r="{letter}{number}"><v>{value}</v></c>')
                continue
            index = strings.setdefault(str(value), len(strings))
            cells.append(f'<c r="{letter}{number}" t="s"><v>{index}</v></c>')
        parts.append(f'<row r="{number}">{"".join(cells)}</row>')
        count = number - 1
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
            f'Type="{relations}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{relations}"><sheets>'
            f'<sheet name="{SHEET}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
            f'Type="{relations}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{relations}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            f'<worksheet xmlns="{main}"><sheetData>{"".join(parts)}'
            "</sheetData></worksheet>",
        )
        items = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
        archive.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{main}" count="{len(strings)}">{items}</sst>',
        )
    return count


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


# --- the phases -------------------------------------------------------------------


def events_written(app: IntakeApplication) -> int:
    return app.recorder.max_notification_id() or 0


def stored_state_bytes(app: IntakeApplication) -> float:
    recorder = app.recorder
    assert isinstance(recorder, BatchProcessRecorder)
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(f"SELECT avg(length(state)) AS size FROM {table}")
        row = curs.fetchone()
    return float(row["size"] or 0) if row else 0.0


class Timer:
    """Wall-clock time, and the CPU time of this process (PostgreSQL's own work
    is not in it): on a busy machine the second says more about the code."""

    def __enter__(self) -> Timer:
        self.wall = -time.perf_counter()
        self.cpu = -time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()


def read_only(path: Path) -> tuple[int, int, Timer]:
    with Timer() as timer, open_table(path, SHEET) as table:
        parsed = RegistrySheet(table.headers).read(table.rows, DISTRICT)
    return parsed.rows, len(parsed.drafts), timer


def import_file(importer: Importer, path: Path) -> tuple[ImportJob, Timer]:
    with Timer() as timer:
        job = importer.prepare(path, path.name, DISTRICT)
        job = importer.run(job, path, DISTRICT)
    return job, timer


def raw_postgres(database_url: str, rows: int, size: int, batch: int) -> float:
    """Event-shaped rows (id, version, topic, state of the import's average size)
    inserted as the event store does: one statement of many rows per commit."""
    state = os.urandom(max(size, 1))
    topic = "intake.domain:Household.HouseholdRegistered"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_registry_rows (originator_id uuid NOT NULL, "
            "originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_registry_rows (notification_id)")
        insert = (
            "INSERT INTO bench_registry_rows (originator_id, originator_version, "
            "topic, state) SELECT * FROM unnest(%s::uuid[], %s::bigint[], "
            "%s::text[], %s::bytea[])"
        )
        started = time.perf_counter()
        for first in range(0, rows, batch):
            count = min(batch, rows - first)
            with conn.transaction():
                conn.execute(
                    insert,
                    (
                        [uuid.uuid4() for _ in range(count)],
                        [1] * count,
                        [topic] * count,
                        [state] * count,
                    ),
                )
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_registry_rows")
    return rate(rows, elapsed)


def fresh_database(server_url: str) -> str:
    """A database of the bench's own, so nothing else on the server is touched."""
    name = f"bench_registry_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, query = server_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def drop_database(server_url: str, database_url: str) -> None:
    name = database_url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def run(args: argparse.Namespace, folder: Path, database_url: str) -> None:
    settings = Settings(
        DATABASE_URL=database_url,
        FANGPIN_CIPHER_KEY=AESCipher.create_key(num_bytes=32),
        FANGPIN_PSEUDONYM_KEY=secrets.token_urlsafe(32),
    )
    county = County(args.households)
    path = folder / f"county.{args.format}"
    started = time.perf_counter()
    rows = (write_xlsx if args.format == "xlsx" else write_csv)(path, county)
    say(
        f"generated {args.households:,} households, {rows:,} member rows "
        f"({path.stat().st_size / 2**20:.1f} MB {args.format}) in "
        f"{time.perf_counter() - started:.1f} s"
    )

    read_rows, households, reading = read_only(path)
    say(
        f"read and check only:  {rate(read_rows, reading.wall):9,.0f} rows/s "
        f"({reading.wall:.1f} s, {reading.cpu:.1f} s CPU)"
    )

    app = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    importer = Importer(app, MemoryJobs(), chunk_size=args.chunk)
    try:
        job, first = import_file(importer, path)
        assert job.state == "done" and job.rejected == 0, (job.state, job.error)
        events = events_written(app)
        say(
            f"first import:         {rate(rows, first.wall):9,.0f} rows/s "
            f"{rate(households, first.wall):9,.0f} households/s "
            f"{rate(events, first.wall):9,.0f} events/s ({first.wall:.1f} s, "
            f"{first.cpu:.1f} s CPU; {events:,} events, "
            f"{events / households:.2f} per household)"
        )
        before = events_written(app)
        again_job, again = import_file(importer, path)
        assert events_written(app) == before, "a second import must write nothing"
        assert again_job.unchanged == households, again_job
        say(
            f"same file again:      {rate(rows, again.wall):9,.0f} rows/s "
            f"{rate(households, again.wall):9,.0f} households/s "
            f"(0 events; {again.wall:.1f} s, {again.cpu:.1f} s CPU)"
        )
        state_size = stored_state_bytes(app)
    finally:
        app.close()

    per_chunk = max(1, round(events / households * args.chunk))
    baseline_rows = min(events, 200_000)
    raw = raw_postgres(database_url, baseline_rows, round(state_size), per_chunk)
    say(
        f"raw PostgreSQL:       {raw:9,.0f} rows/s ({baseline_rows:,} rows of "
        f"{state_size:.0f} bytes, {per_chunk} rows per commit)"
    )
    say(
        f"import / raw:         {rate(events, first.wall) / raw:9.2f} "
        "(events per second over raw rows per second)"
    )
    say(
        f"where the CPU goes:   reading and checking {reading.cpu / first.cpu:.0%}, "
        "the rest is saving (events built, encrypted, written)"
    )
    scale = COUNTY_HOUSEHOLDS / households
    say(
        f"county of {COUNTY_HOUSEHOLDS:,} households (~{rows * scale:,.0f} rows): "
        f"first import ~{minutes(first.wall * scale)} "
        f"(~{minutes(first.cpu * scale)} of importer CPU), "
        f"same file again ~{minutes(again.wall * scale)}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"peak memory:          {peak:,.0f} MB for {rows:,} rows")
    say(f"machine load:         {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL server to use; the bench works in a database of its own",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fangpin-bench-") as folder:
        server = None
        server_url = args.database_url
        if not server_url:
            server = start_postgres(Path(folder))
            server_url = server.url
        database_url = fresh_database(server_url)
        try:
            run(args, Path(folder), database_url)
        finally:
            drop_database(server_url, database_url)
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
