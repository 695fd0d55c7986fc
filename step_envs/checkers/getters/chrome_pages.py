"""OSWorld's getters that read live pages of the env's Chrome (where OSWorld drives it with Playwright, these use
the DevTools protocol through :mod:`step_envs.checkers.getters.devtools`).

A page counts as loaded when its document is complete and no resource has loaded for 0.5 s, waiting at most
:data:`LOAD_WAIT_S` (OSWorld waits up to 60 s for Playwright's network idle). Each getter answers None when Chrome's
DevTools endpoint does not answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from step_envs.checkers.getters.access import save_to_cache, text_of
from step_envs.checkers.getters.chrome_profile import preferences
from step_envs.checkers.getters.chrome_tabs import active_url_from_access_tree
from step_envs.checkers.getters.devtools import TabMissing, run_in_tab
from step_envs.checkers.registry import CheckContext, getter, short

LOAD_WAIT_S = 15.0
"""The longest wait for a page to be loaded and idle before reading it."""
SELECTOR_WAIT_MS = 10_000
"""How long ``info_from_website`` waits for an element to appear (OSWorld's Playwright timeout)."""
PDF_PAGE = {"paperWidth": 8.5, "paperHeight": 11, "marginTop": 0, "marginBottom": 0, "marginLeft": 0,
            "marginRight": 0}
"""Playwright's ``page.pdf()`` defaults, which OSWorld's ``pdf_from_url`` prints with: Letter, no margins."""
HTML_CATEGORIES = ("class", "xpath", "input", "class&url")
COLOR_SCHEMES = {0: "system", 1: "light", 2: "dark"}
"""Chrome's ``browser.theme.color_scheme2`` (and the appearance page's mode select) values."""

# What each query asks of the page: [kind, selector, child selector].
_QUERY_JS = r"""((queries) => {
  const all = (css) => [...document.querySelectorAll(css)];
  const text = (node) => (node.textContent || '').trim();
  const first = (path) => document.evaluate(path, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null)
    .singleNodeValue;
  return queries.map(([kind, selector, child]) => {
    if (kind === 'texts') return all(selector).map(text);
    if (kind === 'own_texts') {
      const node = document.querySelector(selector);
      return node ? [...node.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map(text).filter(Boolean) : [];
    }
    if (kind === 'child_texts') return all(selector).map((n) => n.querySelector(child)).filter(Boolean).map(text);
    if (kind === 'child_inner_texts')
      return all(selector).map((n) => n.querySelector(child)).filter(Boolean).map((n) => n.innerText.trim());
    if (kind === 'xpath_text') { const node = first(selector); return node ? text(node) : ''; }
    if (kind === 'xpath_value') { const node = first(selector); return node ? (node.value || '').trim() : ''; }
    if (kind === 'url') return location.href;
    throw new Error('unknown query ' + kind);
  });
})"""
_BLANK = {"texts": [], "own_texts": [], "child_texts": [], "child_inner_texts": [], "xpath_text": "",
          "xpath_value": "", "url": ""}

Query = Callable[..., Any]
"""``query(kind, selector[, child])``: one reading of a page (see :func:`html_values`)."""


def _nth(texts: list[str], index: str | int) -> str:
    position = int(index)
    return texts[position] if position < len(texts) else ""


def _mark_listed(found: dict[str, Any], names: list[str], texts: list[str]) -> None:
    """``class&url``: ``found[name.lower()] = True`` for each name shown (any case); ``is_other_exist`` True when a
    text is part of none of the names."""
    shown = [text.lower() for text in texts]
    for name in names:
        if name.lower() in shown:
            found[name.lower()] = True
    if any(all(text.lower() not in name.lower() for name in names) for text in texts):
        found["is_other_exist"] = True
    found.setdefault("is_other_exist", False)


def html_values(config: dict[str, Any], query: Query) -> dict[str, Any]:
    """What OSWorld's ``active_tab_html_parse`` makes of a page, by ``config["category"]``; ``query(kind,
    selector[, child])`` reads the page (``texts`` of all matches, ``own_texts`` of the first match's own text
    nodes, ``child_texts`` / ``child_inner_texts`` of each match's first ``child``, ``xpath_text`` /
    ``xpath_value`` of the first XPath match, ``url``).

    - ``class``: ``class_singleObject`` ``{class: key}`` the first element's text; ``class_multiObject`` ``{class:
      {n: key}}`` the n-th's; ``class_multiObject_child`` the first element's own text pieces, n-th;
      ``class_multiObject_only_child`` each element's ``h3``, n-th; ``class_multiObject_search_exist`` ``{class:
      [texts]}`` whether each text is shown, and ``is_other_exist`` whether another one is. ``""`` when missing.
    - ``xpath`` / ``input``: ``{xpath: key}`` the first match's text / input value.
    - ``class&url``: ``class_multiObject`` / ``class_multiObject_li`` (``li.catAllProducts span`` inside) ``{class:
      [names]}`` True for each name shown, ``is_other_exist``; ``url_include_expected`` ``[names]`` and
      ``url_include_expected_multichoice`` ``{part: name}`` whether the URL holds the name (the part), unless set.
    """
    category = config.get("category")
    found: dict[str, Any] = {}
    if category == "class":
        for name, picks in config.get("class_multiObject", {}).items():
            texts = query("texts", f".{name}")
            found.update({key: _nth(texts, index) for index, key in picks.items()})
        for name, picks in config.get("class_multiObject_child", {}).items():
            texts = query("own_texts", f".{name}")
            found.update({key: _nth(texts, index) for index, key in picks.items()})
        for name, picks in config.get("class_multiObject_only_child", {}).items():
            texts = query("child_texts", f".{name}", "h3")
            found.update({key: _nth(texts, index) for index, key in picks.items()})
        for name, wanted in config.get("class_multiObject_search_exist", {}).items():
            texts = query("texts", f".{name}")
            found.update({text: text in texts for text in wanted if text != "is_other_exist"})
            if "is_other_exist" in wanted:
                found["is_other_exist"] = any(text not in wanted for text in texts)
        for name, key in config.get("class_singleObject", {}).items():
            texts = query("texts", f".{name}")
            found[key] = texts[0] if texts else ""
    elif category in ("xpath", "input"):
        kind, key_of = ("xpath_text", "xpathObject") if category == "xpath" else ("xpath_value", "inputObject")
        found.update({key: query(kind, path) for path, key in config.get(key_of, {}).items()})
    elif category == "class&url":
        for name, names in config.get("class_multiObject", {}).items():
            _mark_listed(found, names, query("texts", f".{name}"))
        for name, names in config.get("class_multiObject_li", {}).items():
            _mark_listed(found, names, query("child_inner_texts", f".{name} li.catAllProducts", "span"))
        url = query("url", "").lower()
        for name in config.get("url_include_expected", []):
            found.setdefault(name.lower(), name.lower() in url)
        for part, name in config.get("url_include_expected_multichoice", {}).items():
            found.setdefault(name.lower(), part.lower() in url)
    else:
        raise ValueError(f"getter config 'category' {category!r} is not supported; use one of "
                         f"{', '.join(HTML_CATEGORIES)}")
    return found


@getter("active_tab_html_parse")
def active_tab_html_parse(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any] | None:
    """Texts read from the active tab's page (:func:`html_values`), once it is loaded: the tab whose URL is the
    one ``active_url_from_accessTree`` reads (``goto_prefix`` as there). ``{}`` when no tab shows that URL, as
    OSWorld; None when there is no URL or no DevTools."""
    asked: list[tuple[Any, ...]] = []

    def record(*question: Any) -> Any:
        asked.append(question)
        return _BLANK[question[0]]

    html_values(config, record)  # the questions are the same whatever the answers
    url = active_url_from_access_tree(ctx, config)
    if url is None:
        return None
    try:
        answers = run_in_tab(ctx, {"url": url}, [["load", LOAD_WAIT_S],
                                                 ["eval", f"{_QUERY_JS}({json.dumps([list(q) for q in asked])})"]])
    except TabMissing:
        return {}
    if answers is None:
        return None
    table = dict(zip(asked, answers[0], strict=True))
    return html_values(config, lambda *question: table[question])


@getter("page_info")
def page_info(ctx: CheckContext, config: dict[str, Any]) -> dict[str, str] | None:
    """``{"title", "url", "content"}`` (content: the page's HTML) of ``url`` opened in a new tab of the env's
    Chrome (its cookies and session, so a cart shows what the agent put in it), read once loaded."""
    answers = run_in_tab(ctx, {"open": text_of(config, "url")}, [
        ["load", LOAD_WAIT_S],
        ["eval", "({title: document.title, url: location.href, content: document.documentElement.outerHTML})"]])
    return None if answers is None else answers[0]


@getter("pdf_from_url")
def pdf_from_url(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """``path`` (a URL) opened in a new tab of the env's Chrome and printed to PDF (Letter, no margins: Playwright's
    defaults, which OSWorld's getter uses), saved as ``cache_dir/dest``."""
    answers = run_in_tab(ctx, {"open": text_of(config, "path")}, [["load", LOAD_WAIT_S], ["pdf", PDF_PAGE]])
    return None if answers is None else save_to_cache(ctx, config, base64.b64decode(answers[0]))


_WAIT_FOR = """new Promise((done, fail) => {{
  const until = Date.now() + {wait};
  const look = () => {{
    const node = document.querySelector({selector});
    if (node) done(node);
    else if (Date.now() > until) fail(new Error('no element ' + {selector}));
    else setTimeout(look, 100);
  }};
  look();
}})"""


def _waited(selector: str, wait_ms: int = SELECTOR_WAIT_MS) -> str:
    """JavaScript: a promise of the first element ``selector`` finds, polling up to ``wait_ms``."""
    return _WAIT_FOR.format(wait=wait_ms, selector=json.dumps(selector))


def _website_steps(info: dict[str, Any]) -> list[list[Any]]:
    """The tab steps for one of ``info_from_website``'s ``infos``: click through all selectors but the last, then
    read the last one's inner text or ``attribute``."""
    action = info.get("action", "inner_text")
    actions = ("inner_text", "attribute", "click_and_inner_text", "click_and_attribute")
    if action not in actions:
        raise ValueError(f"info action {action!r} is not supported; use one of {', '.join(actions)}")
    selectors = info["selector"] if action.startswith("click_and_") else [info["selector"]]
    if not isinstance(selectors, list) or not selectors or not all(isinstance(s, str) for s in selectors):
        raise ValueError(f"info selector must be a CSS selector (a list of them for click_and_*), got "
                         f"{short(info.get('selector'))}")
    steps: list[list[Any]] = [["load", LOAD_WAIT_S]]
    for selector in selectors[:-1]:
        steps += [["eval", f"{_waited(selector)}.then((node) => {{ node.click(); }})"], ["sleep", 1],
                  ["load", LOAD_WAIT_S]]
    read = (f"node.getAttribute({json.dumps(info.get('attribute'))})" if action.endswith("attribute")
            else "node.innerText")
    return [*steps, ["eval", f"{_waited(selectors[-1])}.then((node) => {read})"]]


@getter("info_from_website")
def info_from_website(ctx: CheckContext, config: dict[str, Any]) -> Any:
    """One value per entry of ``infos`` read from ``url`` (each in a new tab of the env's Chrome): ``inner_text``
    or ``attribute`` of the element a CSS ``selector`` finds, or, for ``click_and_*``, after clicking the elements
    of all selectors but the last in turn. When any read fails, ``backups`` instead, as OSWorld."""
    url, infos = text_of(config, "url"), config.get("infos", [])
    plans = [_website_steps(info) for info in infos]
    values = []
    try:
        for steps in plans:
            answers = run_in_tab(ctx, {"open": url}, steps)
            if answers is None:
                return config.get("backups")
            values.append(answers[-1])
    except (RuntimeError, TabMissing):
        return config.get("backups")
    return values


RECREATION_URL = "https://www.recreation.gov/"
NEXT_AVAILABLE = ("button.next-available", "button[class*='next-available']", "button[class*='next']",
                  ".next-available", "[data-testid*='next']")
"""The "next available" buttons OSWorld's recreation.gov getter tries, in order."""
FAILED = "__EVALUATION_FAILED__"


@getter("gotoRecreationPage_and_get_html_content")
def goto_recreation_page(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any] | None:
    """The live answer of OSWorld's recreation.gov task, ``{"expected": {class: text}}``: on ``url`` (ours;
    default :data:`RECREATION_URL`) search "Diamond", open the first result, press "next available", then read the
    text of the ``order``-th (default first) element of ``class`` (``selector: class``), or ``__EVALUATION_FAILED__``.

    OSWorld's version clicks the result and follows the popup it opens; here the result's link is opened in a tab
    of its own, the same page. (In the OSWorld snapshot this was written from, the result click sits after a
    ``raise``, so its getter always answers ``__EVALUATION_FAILED__``: this follows the steps it describes.)"""
    if config.get("selector") != "class":
        raise ValueError(f"getter config 'selector' must be 'class', got {short(config.get('selector'))}")
    name, order = text_of(config, "class"), int(config.get("order", 0))
    search = [["load", LOAD_WAIT_S], ["eval", f"{_waited('input#hero-search-input')}.then((n) => {{ n.focus(); "
                                               f"n.select(); }})"],
              ["text", "Diamond"], ["eval", f"{_waited('button.nav-search-button')}.then((n) => {{ n.click(); }})"],
              ["sleep", 2], ["load", LOAD_WAIT_S],
              ["eval", f"{_waited('.search-result-highlight--success', 25_000)}.then((n) => "
                       "(n.closest('a') || n.querySelector('a') || n).href)"]]
    press = " || ".join(f"document.querySelector({json.dumps(s)})" for s in NEXT_AVAILABLE)
    read = (f"[...document.querySelectorAll({json.dumps('.' + name)})].map((n) => (n.textContent || '').trim())")
    try:
        found = run_in_tab(ctx, {"open": config.get("url", RECREATION_URL)}, search)
        if found is None:
            return None
        texts = run_in_tab(ctx, {"open": found[-1]}, [
            ["load", LOAD_WAIT_S], ["eval", f"(() => {{ const b = {press}; if (b) b.click(); }})()"], ["sleep", 2],
            ["load", LOAD_WAIT_S], ["eval", read]])
    except (RuntimeError, TabMissing) as exc:
        return {"expected": {"error": FAILED, "error_message": str(exc)}}
    if texts is None:
        return None
    value = texts[-1][order] if order < len(texts[-1]) else FAILED
    return {"expected": {name: value}}


_MODE_SELECT = """new Promise((done) => {
  const until = Date.now() + 5000;
  const look = () => {
    const roots = [document];
    for (let i = 0; i < roots.length; i++)
      for (const node of roots[i].querySelectorAll('*')) if (node.shadowRoot) roots.push(node.shadowRoot);
    const select = roots.map((root) => root.querySelector('#colorSchemeModeSelect')).find(Boolean);
    if (select) done(select.value);
    else if (Date.now() > until) done(null);
    else setTimeout(look, 200);
  };
  look();
})"""


def _scheme(value: Any) -> str | None:
    try:
        return COLOR_SCHEMES.get(int(value))
    except (TypeError, ValueError):
        return None


@getter("chrome_appearance_mode_ui")
def chrome_appearance_mode_ui(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """Chrome's mode, ``"light"``, ``"dark"`` or ``"system"``: the mode select of ``chrome://settings/appearance``
    (opened in a new tab), else ``Preferences`` (``browser.theme.color_scheme2``, or the older ``color_scheme``;
    ``"system"`` when neither is set). OSWorld's file fallback also reads ``extensions.theme.system_theme`` 0 as
    light; Chromium on Linux has 0 there by default, so that rule is not followed here."""
    try:
        answers = run_in_tab(ctx, {"open": "chrome://settings/appearance"}, [["load", LOAD_WAIT_S],
                                                                              ["eval", _MODE_SELECT]])
    except RuntimeError:
        answers = None
    mode = _scheme(answers[0]) if answers else None
    if mode is not None:
        return mode
    prefs = preferences(ctx)
    if prefs is None:
        return None
    theme = prefs.get("browser", {}).get("theme", {})
    return _scheme(theme.get("color_scheme2", theme.get("color_scheme"))) or "system"
