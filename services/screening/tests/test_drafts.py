"""The district edits the catalogue in a draft, publishes it as a new version and
every household is re-screened; a draft can be back-tested first without
publishing anything."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from fangpin.contracts import CataloguePublished
from fangpin.relay import to_envelope
from fangpin.service import Conflict, Forbidden
from screening.catalogue import CatalogueError, InvalidCondition

from .conftest import DISTRICT, TOWN


def oop_indicator(condition: str = "out_of_pocket > oop_line_low_income") -> dict:
    return {
        "ref": "R20",
        "name_zh": "医疗自付费用超过监测线",
        "name_en": "Out-of-pocket medical cost above the line",
        "group": "health",
        "applies_to": ["formerly_poor"],
        "condition": condition,
        "target_type": "expense_hardship",
        "severity": "high",
        "examples": [
            {"case": "hit", "hits": True, "inputs": {"out_of_pocket": 99999.0}},
            {
                "case": "at the threshold",
                "hits": False,
                "inputs": {"out_of_pocket": "=oop_line_low_income"},
            },
        ],
    }


def test_only_the_district_office_edits_the_catalogue(app):
    with pytest.raises(Forbidden):
        app.open_draft(TOWN)


def test_a_bad_condition_is_refused_naming_the_indicator(app):
    draft = app.open_draft(DISTRICT)
    with pytest.raises(InvalidCondition) as refused:
        app.put_indicator(
            draft, "R-MED-01", oop_indicator("out_of_pocket >>"), {}, DISTRICT
        )
    assert refused.value.status_code == 422
    assert refused.value.reason.startswith("R-MED-01: the condition does not compile")
    assert app.draft(draft).edits == []


def test_a_parameter_the_condition_does_not_use_is_refused(app):
    draft = app.open_draft(DISTRICT)
    parameter = {"unit": "yuan", "values": [{"from": "2027-01-01", "value": 1}]}
    with pytest.raises(CatalogueError, match="R-MED-01: the condition does not use"):
        app.put_indicator(
            draft, "R-MED-01", oop_indicator(), {"oop_cap": parameter}, DISTRICT
        )
    with pytest.raises(CatalogueError, match="oop_cap: no such parameter"):
        app.set_parameter(draft, "oop_cap", date(2027, 1, 1), 5, DISTRICT)


def test_a_new_indicator_brings_its_own_parameter(app):
    draft = app.open_draft(DISTRICT)
    spec = {
        **oop_indicator("out_of_pocket > oop_alarm"),
        "examples": [
            {
                "case": "hit",
                "hits": True,
                "inputs": {"out_of_pocket": "=oop_alarm * 2.0"},
            },
            {
                "case": "at the threshold",
                "hits": False,
                "inputs": {"out_of_pocket": "=oop_alarm"},
            },
        ],
    }
    parameter = {"unit": "yuan", "values": [{"from": "2020-01-01", "value": 50000}]}
    catalogue = app.put_indicator(
        draft, "R-MED-10", spec, {"oop_alarm": parameter}, DISTRICT
    )
    assert catalogue.by_code["R-MED-10"].thresholds == ("oop_alarm",)
    assert app.draft_changes(app.draft(draft), catalogue) == [
        "R-MED-10: added",
        "parameter oop_alarm: added",
    ]


def test_publishing_emits_a_version_and_rescreens_every_household(app, feed):
    poor, better_off = feed.household(), feed.household()
    feed.send(feed.income(poor, 4200.0), feed.income(better_off, 5300.0))
    assert feed.flagged(poor) == ["R-INC-01"]
    assert feed.flagged(better_off) == ["R-INC-02"]

    draft = app.open_draft(DISTRICT, "a lower line from the start of the year")
    line = "income_line_formerly_poor"
    app.set_parameter(draft, line, date(2026, 1, 1), 3900, DISTRICT)
    app.set_parameter(draft, line, date(2026, 1, 1), 4000, DISTRICT)
    catalogue, changes, job_id = app.publish_draft(draft, DISTRICT)

    assert catalogue.version == 2
    assert changes == ["parameter income_line_formerly_poor: 4000 from 2026-01-01"]
    book = app.catalogue_book()
    subject, envelope = to_envelope("screening", list(app.events.get(book.id))[-1])
    assert subject == "screening.catalogue.published"
    published = CataloguePublished.model_validate(envelope.data)
    assert (published.version, published.indicator_count) == (2, 81)
    assert [
        (item.parameter, item.value, item.effective_from)
        for item in published.income_lines
    ] == [
        (line, 5000, date(2020, 1, 1)),
        (line, 4000, date(2026, 1, 1)),
        ("income_line_never_poor", 6000, date(2020, 1, 1)),
    ]

    job = app.run_job(job_id, page_size=1)
    assert (job.status, job.done, job.total, job.changed) == ("finished", 2, 2, 2)
    assert feed.events(poor, "HitsLapsed")[0].codes == ["R-INC-01"]
    assert feed.flagged(poor) == ["R-INC-02"]
    assert feed.events(poor, "RiskFlagged")[-1].catalogue_version == 2
    assert feed.events(better_off, "RiskCleared")[0].cleared_codes == ["R-INC-02"]
    assert app.current_catalogue().params_on(date(2026, 12, 1))[line] == 4000
    assert app.current_catalogue().params_on(date(2025, 12, 1))[line] == 5000


def test_a_draft_is_published_once_and_only_on_the_version_it_started_from(app):
    first = app.open_draft(DISTRICT)
    second = app.open_draft(DISTRICT)
    app.set_parameter(first, "oop_line_low_income", date(2027, 1, 1), 12000, DISTRICT)
    app.publish_draft(first, DISTRICT)
    with pytest.raises(Conflict, match="this draft is published"):
        app.publish_draft(first, DISTRICT)
    app.set_parameter(second, "oop_line_general", date(2027, 1, 1), 30000, DISTRICT)
    with pytest.raises(Conflict, match="version 2 was published after"):
        app.publish_draft(second, DISTRICT)


def test_a_backtest_shows_what_a_draft_would_flag_without_publishing(app, feed):
    flagged, caught = feed.household(), feed.household()
    feed.send(
        feed.record(flagged, "hospital_settlement", {"out_of_pocket": 16000.0}),
        feed.record(caught, "hospital_settlement", {"out_of_pocket": 8000.0}),
    )
    before = app.recorder.max_notification_id()
    draft = app.open_draft(DISTRICT)
    app.set_parameter(draft, "oop_line_low_income", date(2020, 1, 1), 6000, DISTRICT)

    job_id = app.start_backtest(draft, DISTRICT)
    app.run_job(job_id)
    report = app.backtest_report(draft, job_id, DISTRICT, limit=10, offset=0)
    summary = report["summary"]
    assert summary["flagged_by_draft"] == 2 and summary["flagged_by_current"] == 1
    assert summary["only_by_draft"] == 1
    assert summary["by_indicator"]["R-MED-01"] == {"draft": 2, "current": 1}
    found = {f["household_id"]: f for f in report["findings"]}
    assert found[str(caught)]["draft"] == {"R-MED-01": date.today().isoformat()}
    assert found[str(caught)]["current"] == {}

    assert app.current_catalogue().version == 1
    assert feed.flagged(caught) == []
    written = app.recorder.max_notification_id() - before
    assert written == 5, "draft opened and edited; job started, progressed, finished"


def test_a_job_cut_short_is_taken_up_again_from_its_last_page(app, feed):
    households = [feed.household() for _ in range(5)]
    feed.send(*(feed.income(h, 4000.0) for h in households))
    job_id = app.start_rescreen(DISTRICT, "income survey")
    app._page(app.job(job_id), 2, None)
    assert app.stalled_jobs() == []

    (stalled,) = app.stalled_jobs(quiet=timedelta(0))
    assert stalled == job_id and app.job(job_id).done == 2
    job = app.run_job(job_id, page_size=2)
    assert (job.status, job.done, job.total) == ("finished", 5, 5)
    assert app.stalled_jobs(quiet=timedelta(0)) == []


def test_a_discarded_draft_can_no_longer_change_or_be_published(app):
    draft = app.open_draft(DISTRICT)
    app.discard_draft(draft, DISTRICT)
    with pytest.raises(Conflict, match="this draft is discarded"):
        app.set_parameter(draft, "oop_line_general", date(2027, 1, 1), 30000, DISTRICT)
    with pytest.raises(Conflict, match="this draft is discarded"):
        app.publish_draft(draft, DISTRICT)


def test_versions_stored_before_the_income_lines_publish_them_from_the_definition(
    app,
):
    """A catalogue version stored without the income lines beside its definition
    is read with them, so the relay publishes them for old versions too."""
    book = app.catalogue_book()
    stored = app.mapper.to_stored_event(list(app.events.get(book.id))[-1])
    mapper = app.mapper
    state = mapper.cipher.decrypt(stored.state) if mapper.cipher else stored.state
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    decoded = mapper.transcoder.decode(state)
    del decoded["income_lines"], decoded["class_version"]
    state = mapper.transcoder.encode(decoded)
    if mapper.compressor:
        state = mapper.compressor.compress(state)
    if mapper.cipher:
        state = mapper.cipher.encrypt(state)

    old = mapper.to_domain_event(replace(stored, state=state))
    subject, envelope = to_envelope("screening", old)

    published = CataloguePublished.model_validate(envelope.data)
    assert subject == "screening.catalogue.published"
    assert [(item.parameter, item.value) for item in published.income_lines] == [
        ("income_line_formerly_poor", 5000),
        ("income_line_never_poor", 6000),
    ]
