"""Basic accessibility of every role's pages, measured in the browser: text
contrast (WCAG 2 AA), a label for every form control, alternative text for
images, the page's language, and a skip link that the keyboard reaches first."""

from __future__ import annotations

from typing import Any

import pytest

from fangpin.cli import Platform
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_pages import Session

pytestmark = pytest.mark.browser

PAGES = {
    "grid01": ["/grid", "/ledger"],
    "village01": ["/queue", "/grid", "/ledger"],
    "town01": ["/queue", "/overview"],
    "district01": [
        "/overview",
        "/ledger",
        "/grid",
        "/queue",
        "/district/assessment",
        "/district/catalogue",
        "/district/time-limits",
        "/district/budgets",
    ],
    "medical01": ["/department"],
}

# What the page offers a person who cannot see colours well, or uses no mouse.
AUDIT = """
() => {
  const problems = [];
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  };
  const luminance = ([r, g, b]) =>
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const parse = (text) => {
    const found = text.match(/rgba?\\(([^)]+)\\)/);
    if (!found) return [0, 0, 0, 0];
    const parts = found[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  // The colour behind an element: its own and its ancestors' backgrounds,
  // laid over each other, on white.
  const background = (element) => {
    const layers = [];
    for (let node = element; node; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] >= 1) break;
    }
    let shown = [255, 255, 255, 1];
    for (const layer of layers.reverse()) shown = over(layer, shown);
    return shown;
  };
  const visible = (element) => {
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden"
      && style.display !== "none" && !element.closest(".visually-hidden");
  };

  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest("svg, canvas, script, style, noscript")) continue;
    const ownText = [...element.childNodes].some(
      (n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!ownText || !visible(element)) continue;
    const style = getComputedStyle(element);
    const back = background(element);
    const fore = over(parse(style.color), back);
    const [light, dark] = [luminance(fore), luminance(back)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) {
      problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: <${
        element.tagName.toLowerCase()} class="${element.className}">`);
    }
  }

  const controls = document.querySelectorAll(
    "input:not([type=hidden]), select, textarea");
  for (const control of controls) {
    if (!visible(control)) continue;
    const named = control.labels.length > 0 || control.getAttribute("aria-label")
      || control.getAttribute("aria-labelledby");
    if (!named) problems.push(`no label: ${control.outerHTML.slice(0, 80)}`);
  }
  for (const image of document.querySelectorAll("img")) {
    if (!image.hasAttribute("alt")) problems.push(`no alt: ${image.src}`);
  }
  if (!document.documentElement.lang) problems.push("the page names no language");
  return problems;
}
"""


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    assert platform.web_url is not None
    return platform.web_url


@pytest.mark.parametrize("user", list(PAGES))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_of_the_role_is_readable_labelled_and_keyboard_first(
    browser: Any, web: str, user: str, lang: str
) -> None:
    session = Session(browser, web, user, DESKTOP)
    session.speak(lang)
    problems: list[str] = []
    try:
        for path in PAGES[user]:
            for viewport in (PHONE, DESKTOP):
                session.page.set_viewport_size(viewport)
                page = session.go(path)
                page.wait_for_load_state("load")
                found = page.evaluate(AUDIT)
                problems += [f"{path} at {viewport['width']}px: {p}" for p in found]

            # The first Tab lands on the link that skips to the content.
            page.keyboard.press("Tab")
            first = page.evaluate("document.activeElement.getAttribute('href')")
            if first != "#main":
                problems.append(f"{path}: the first Tab reaches {first!r}")
    finally:
        session.close()

    assert problems == []


def test_the_audit_finds_what_it_looks_for(browser: Any, web: str) -> None:
    session = Session(browser, web, "district01", DESKTOP)
    try:
        page = session.go("/overview")
        page.evaluate(
            """() => {
              const main = document.querySelector('main');
              main.insertAdjacentHTML('beforeend',
                '<p id="pale" style="color:#bbb;background:#fff">浅灰色文字</p>'
                + '<input id="unnamed" type="text">'
                + '<img id="bare" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">');
            }"""
        )
        found = page.evaluate(AUDIT)
    finally:
        session.close()

    assert len(found) == 3, found
    assert found[0].startswith("contrast 1.9")
    assert found[1].startswith('no label: <input id="unnamed"')
    assert found[2].startswith("no alt: data:image/gif")
