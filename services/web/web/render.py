"""Pages are rendered here: the menus per role, the template environment and the
values every page gets (language, translator, user, menu)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from web import format as fmt
from web.i18n import label, translate_reason, translator
from web.session import User, language

HERE = Path(__file__).parent


# What each role finds in its menu, in order; the first entry is its landing page.
MENUS: dict[str, list[tuple[str, str]]] = {
    # Grid monitors take no case steps: they report and survey, and follow what
    # became of their reports on the grid page.
    "grid_monitor": [
        ("/grid", "nav.grid"),
        ("/ledger", "nav.ledger"),
    ],
    "village": [
        ("/queue", "nav.queue"),
        ("/grid", "nav.grid"),
        ("/ledger", "nav.ledger"),
    ],
    "town": [
        ("/queue", "nav.queue"),
        ("/grid", "nav.grid"),
        ("/overview", "nav.overview"),
        ("/ledger", "nav.ledger"),
    ],
    "district": [
        ("/overview", "nav.overview"),
        ("/ledger", "nav.ledger"),
        ("/grid", "nav.find_household"),
        ("/queue", "nav.queue"),
        ("/district/assessment", "nav.assessment"),
        ("/district/catalogue", "nav.catalogue"),
        ("/district/time-limits", "nav.time_limits"),
        ("/district/budgets", "nav.budgets"),
        ("/department", "nav.department"),
    ],
    "department": [("/department", "nav.department")],
    "auditor": [
        ("/overview", "nav.overview"),
        ("/district/catalogue", "nav.catalogue"),
    ],
}


def landing_page(role: str) -> str:
    menu = MENUS.get(role)
    return menu[0][0] if menu else "/overview"


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.globals["label"] = label
    env.globals["area_name"] = fmt.area_name
    env.globals["measure_name"] = fmt.measure_name
    env.filters["date"] = fmt.format_date
    env.filters["datetime"] = fmt.format_datetime
    env.filters["money"] = fmt.format_money
    env.filters["number"] = fmt.format_number
    env.filters["reason"] = translate_reason
    env.filters["tojson_script"] = lambda value: Markup(
        json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")
    )
    return templates


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    user: User | None = None,
) -> HTMLResponse:
    lang = language(request)
    templates: Jinja2Templates = request.app.state.templates
    values: dict[str, Any] = {
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "t": translator(lang),
        "user": user,
        "menu": MENUS.get(user.role, []) if user else [],
        "here": request.url.path
        + (f"?{request.url.query}" if request.url.query else ""),
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, template, values, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    return response
