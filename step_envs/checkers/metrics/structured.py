"""Metrics on structured files, with the rules of OSWorld's ``metrics/general.py`` and ``metrics/chrome.py``:
JSON and YAML by key path, SQLite by query, HTML node by node.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from step_envs.checkers.metrics.scoring import read_text, rules_of, rules_with
from step_envs.checkers.metrics.table import match_rule
from step_envs.checkers.registry import NO_RESULT, Score, metric, short

_MISSING = object()


def _lookup(data: Any, keys: list[Any]) -> Any:
    """``data[k0][k1]...``, or ``_MISSING`` where a key is absent or a value cannot be indexed."""
    for key in keys:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


def _json_rules(rules: Any, side: str) -> list[dict[str, Any]]:
    entries = rules.get(side, [])
    if not isinstance(entries, list) or not all(
            isinstance(r, dict) and isinstance(r.get("key"), list) and "method" in r for r in entries):
        raise ValueError(f"rules[{side!r}] must be a list of {{'key': [...], 'method': ..., 'ref': ...}}, "
                         f"got {short(entries)}")
    return entries


@metric("check_json")
def check_json(result: str | None, rules: Any, is_yaml: bool = False, **options: Any) -> Score:
    """1 when the JSON (``is_yaml``: YAML) file meets every rule, else 0. ``rules["expect"]``: each
    ``{"key": [k0, k1, ...], "method", "ref"}`` must find ``data[k0][k1]...`` and match it (see
    :func:`~step_envs.checkers.metrics.table.match_rule`); ``rules["unexpect"]``: the value (None when absent) must
    not match."""
    if result is None:
        return NO_RESULT
    rules = rules_with(rules, ("expect", "unexpect"), "{'expect': [...], 'unexpect': [...]}")
    expect, unexpect = _json_rules(rules, "expect"), _json_rules(rules, "unexpect")
    text = read_text(result)
    try:
        data = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        return Score(0.0, f"{Path(result).name} is not valid {'YAML' if is_yaml else 'JSON'}: {exc}")
    for rule in expect:
        value = _lookup(data, rule["key"])
        if value is _MISSING:
            return Score(0.0, f"key {rule['key']} not found")
        if not match_rule(value, rule):
            return Score(0.0, f"key {rule['key']}: {short(value)} fails {rule['method']} {short(rule.get('ref'))}")
    for rule in unexpect:
        value = _lookup(data, rule["key"])
        if match_rule(None if value is _MISSING else value, rule):
            return Score(0.0, f"key {rule['key']}: {short(value)} matches unexpected {rule['method']}")
    return Score(1.0, f"{len(expect)} expected keys match, no unexpected one")


@metric("run_sqlite3")
def run_sqlite3(result: str | None, rules: Any, **options: Any) -> Score:
    """The first column of the first row of ``rules["sql"]`` run on the SQLite file, as the score (OSWorld uses
    queries that return 0 or 1). The database is opened read-only."""
    if result is None:
        return NO_RESULT
    sql = rules_of(rules, "{'sql': 'SELECT ...'}").get("sql")
    if not isinstance(sql, str):
        raise ValueError(f"rules['sql'] must be an SQL query, got {short(sql)}")
    if not Path(result).is_file():
        return Score(0.0, f"{result} is not a file")
    with contextlib.closing(sqlite3.connect(f"{Path(result).resolve().as_uri()}?mode=ro", uri=True)) as db:
        row = db.execute(sql).fetchone()
    value = float((row or [0])[0] or 0)
    return Score(value, f"query {short(sql, 60)} gave {value:g}")


_LISTED_ATTRIBUTES = ("class", "rel")
"""Attributes whose value is a list of words (as BeautifulSoup, which OSWorld parses with, reads them)."""


def _html_nodes(element: Any) -> Iterator[Any]:
    """An HTML element and everything under it in document order: elements, then texts (and comments) as strings,
    the way BeautifulSoup's ``recursiveChildGenerator`` walks a page."""
    import lxml.html

    yield element.text if isinstance(element, lxml.html.HtmlComment) else element
    if not isinstance(element, lxml.html.HtmlComment) and element.text:
        yield element.text
    for child in element:
        yield from _html_nodes(child)
        if child.tail:
            yield child.tail


def _same_node(a: Any, b: Any, ignore_sdnum: bool) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b

    def attributes(element: Any) -> dict[str, Any]:
        return {key: value.split() if key in _LISTED_ATTRIBUTES else value for key, value in element.attrib.items()
                if not (ignore_sdnum and key == "sdnum")}

    return a.tag == b.tag and a.text_content().strip() == b.text_content().strip() and attributes(a) == attributes(b)


@metric("compare_htmls")
def compare_htmls(result: Any, expected: Any, ignore_sdnum: bool = False, **options: Any) -> Score:
    """1 when the two HTML files (UTF-8) agree node by node in document order, as far as the shorter goes:
    texts equal, elements of one tag with the same text inside and the same attributes (``sdnum``, LibreOffice's
    number format, ignored with ``ignore_sdnum``), as OSWorld's walk over two BeautifulSoup trees."""
    import lxml.html

    if result is None:
        return NO_RESULT
    pages = [lxml.html.document_fromstring(Path(path).read_text(encoding="utf-8")) for path in (result, expected)]
    for index, (a, b) in enumerate(zip(_html_nodes(pages[0]), _html_nodes(pages[1]), strict=False)):
        if not _same_node(a, b, ignore_sdnum):
            seen = [short(node if isinstance(node, str) else node.tag, 40) for node in (a, b)]
            return Score(0.0, f"node {index} differs: {seen[0]} against {seen[1]}")
    return Score(1.0, "the pages agree node by node")
