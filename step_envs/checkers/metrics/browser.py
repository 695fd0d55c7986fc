"""Browser metrics, with the rules of OSWorld's ``metrics/chrome.py``: URLs, tabs, bookmarks, the profile's font
size, history, cookies, desktop shortcuts and extensions, and a page's HTML.

URLs are compared as OSWorld does: a missing scheme means ``http``, a lone ``www`` subdomain is dropped, the public
suffix is ignored (``airbnb.com`` and ``airbnb.com.sg`` are one site), a lone ``/`` path is empty; query and
fragment count. The public suffix is the last label, or the last two when they look like ``co.uk``/``com.sg`` (a
second-level label of 2-3 letters under a two-letter country code) -- a heuristic, where OSWorld reads the public
suffix list.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any
from urllib.parse import urlparse, urlunparse

from step_envs.checkers.metrics.scoring import rules_of, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+\-.]*://")
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or"}


def _site(host: str) -> str:
    """``host`` without a lone ``www`` subdomain and without its public suffix (see the module docstring)."""
    labels = host.lower().split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        labels = labels[:-2]
    elif len(labels) >= 2:
        labels = labels[:-1]
    if len(labels) == 2 and labels[0] == "www":
        labels = labels[1:]
    return ".".join(labels)


def normalize_url(url: str, full: bool = True) -> str:
    """The URL as compared (module docstring); without ``full``, params, query and fragment are dropped."""
    parsed = urlparse(url if _SCHEME.match(url) else f"http://{url}")
    path = "" if parsed.path == "/" else parsed.path
    return urlunparse((parsed.scheme.lower(), _site(parsed.netloc), path, parsed.params if full else "",
                       parsed.query if full else "", parsed.fragment if full else ""))


def same_url(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    return normalize_url(a) == normalize_url(b)


def _url_of(result: Any) -> str | None:
    """A URL given bare or as a tab's ``{"url": ...}``."""
    if isinstance(result, dict):
        result = result.get("url")
    return result if isinstance(result, str) and result else None


@metric("is_expected_url_pattern_match")
def is_expected_url_pattern_match(result: Any, rules: Any, **options: Any) -> Score:
    """1 when every regular expression of ``rules["expected"]`` is found (``re.search``) in the active tab's URL."""
    patterns = rules_of(rules, "{'expected': [regex]}").get("expected")
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"rules['expected'] must be a list of regular expressions, got {short(patterns)}")
    url = _url_of(result)
    if url is None:
        return NO_RESULT
    missing = [p for p in patterns if not re.search(p, url)]
    return verdict(not missing, f"{url} matches", f"{url} does not match {missing[0] if missing else ''!r}")


def _url_rule(rules: Any, key: str) -> Any:
    rules = rules_of(rules, f"{{'type': 'url', {key!r}: ...}}")
    if rules.get("type") != "url" or key not in rules:
        raise ValueError(f"rules must be {{'type': 'url', {key!r}: ...}}, got {short(rules)}")
    return rules[key]


@metric("is_expected_active_tab")
def is_expected_active_tab(result: Any, rules: Any, **options: Any) -> Score:
    """1 when the active tab's URL is ``rules["url"]`` (``type: url``), as :func:`same_url` compares."""
    expected, url = _url_rule(rules, "url"), _url_of(result)
    if url is None:
        return NO_RESULT
    return verdict(same_url(expected, url), f"active tab {url}", f"active tab {url}, expected {expected}")


@metric("is_expected_active_tab_approximate")
def is_expected_active_tab_approximate(result: Any, rules: Any, **options: Any) -> Score:
    """1 when the active tab's URL equals ``rules["url"]`` once both lose their query string (exact otherwise)."""
    expected, url = _url_rule(rules, "url"), _url_of(result)
    if url is None:
        return NO_RESULT

    def bare(text: str) -> str:
        return urlunparse(urlparse(text)._replace(query=""))

    return verdict(bare(expected) == bare(url), f"active tab {url}", f"active tab {url}, expected {expected}")


@metric("is_expected_tabs")
def is_expected_tabs(result: Any, rules: Any, **options: Any) -> Score:
    """1 when the open tabs' URLs and ``rules["urls"]`` have one length and each expected URL is the same as some
    open tab's (:func:`same_url`)."""
    expected = _url_rule(rules, "urls")
    if not result:
        return NO_RESULT
    urls = [tab.get("url") if isinstance(tab, dict) else tab for tab in result]
    ok = len(urls) == len(expected) and all(any(same_url(e, u) for u in urls) for e in expected)
    return verdict(ok, f"tabs {urls}", f"tabs {short(urls, 200)}, expected {short(expected, 200)}")


@metric("is_expected_search_query")
def is_expected_search_query(result: Any, rules: Any, **options: Any) -> Score:
    """1 when ``rules["expect"]["pattern"]`` is found in the active tab's URL."""
    pattern = rules_of(rules, "{'expect': {'pattern': regex}}").get("expect", {}).get("pattern")
    if not isinstance(pattern, str):
        raise ValueError(f"rules must be {{'expect': {{'pattern': regex}}}}, got {short(rules)}")
    url = _url_of(result)
    if url is None:
        return NO_RESULT
    return verdict(re.search(pattern, url) is not None, f"{url} matches", f"{url} does not match {pattern!r}")


def _bar(bookmarks: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for item in bookmarks.get("bookmark_bar", {}).get("children", []) if item.get("type") == kind]


@metric("is_expected_bookmarks")
def is_expected_bookmarks(result: Any, rules: Any, **options: Any) -> Score:
    """Chrome's bookmark roots against ``rules["type"]``: ``bookmark_bar_folders_names`` -- the bar's folders are
    exactly the set ``names``; ``bookmark_bar_websites_urls`` -- the bar's links are exactly the set ``urls``;
    ``liked_authors_websites_urls`` -- the bar's folder "Liked Authors" holds exactly one URL of each entry of
    ``urls`` (an entry is a URL or a list of alternatives)."""
    rules = rules_of(rules, "{'type': ..., 'names' | 'urls': [...]}")
    kind = rules.get("type")
    kinds = ("bookmark_bar_folders_names", "bookmark_bar_websites_urls", "liked_authors_websites_urls")
    if kind not in kinds:
        raise ValueError(f"rules['type'] is {kind!r}; use one of {kinds}")
    if not result:
        return NO_RESULT
    if kind == "bookmark_bar_folders_names":
        names = {item["name"] for item in _bar(result, "folder")}
        return verdict(names == set(rules["names"]), f"folders {sorted(names)}",
                       f"folders {sorted(names)}, expected {sorted(rules['names'])}")
    if kind == "bookmark_bar_websites_urls":
        urls = {item["url"] for item in _bar(result, "url")}
        return verdict(urls == set(rules["urls"]), f"links {sorted(urls)}",
                       f"links {sorted(urls)}, expected {sorted(rules['urls'])}")
    folder = next((item for item in _bar(result, "folder") if item.get("name") == "Liked Authors"), None)
    if folder is None:
        return Score(0.0, "no 'Liked Authors' folder on the bookmark bar")
    urls = {item["url"] for item in folder.get("children", []) if item.get("type") == "url"}
    choices = [[entry] if isinstance(entry, str) else entry for entry in rules["urls"]]
    ok = any(set(combination) == urls for combination in itertools.product(*choices))
    return verdict(ok, f"'Liked Authors' holds {sorted(urls)}", f"'Liked Authors' holds {sorted(urls)}")


def _rule_type(rules: Any, valid: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    rules = rules_of(rules, f"{{'type': one of {valid}, ...}}")
    if rules.get("type") not in valid:
        raise ValueError(f"rules type {rules.get('type')!r} is not supported; use one of {', '.join(valid)}")
    return rules, rules["type"]


@metric("check_font_size")
def check_font_size(result: Any, rules: Any, **options: Any) -> Score:
    """1 when Chrome's ``default_font_size`` is ``rules["value"]`` (``type: value``) or lies strictly between
    ``rules["min"]`` and ``rules["max"]`` (``type: range``)."""
    rules, kind = _rule_type(rules, ("value", "range"))
    if not isinstance(result, dict):
        return NO_RESULT
    size = result.get("default_font_size")
    ok = size == rules["value"] if kind == "value" else rules["min"] < size < rules["max"]
    wanted = rules["value"] if kind == "value" else f"in ({rules['min']}, {rules['max']})"
    return verdict(ok, f"default font size {size}", f"default font size {size}, expected {wanted}")


@metric("check_history_deleted")
def check_history_deleted(result: Any, rules: Any, **options: Any) -> Score:
    """1 when no URL of the history (the ``history`` getter's rows) contains any of ``rules["keywords"]``
    (``type: keywords``)."""
    rules, _ = _rule_type(rules, ("keywords",))
    if not isinstance(result, list):
        return NO_RESULT
    left = [row[0] for row in result if any(keyword in row[0] for keyword in rules["keywords"])]
    return verdict(not left, "no such page in the history", f"still in the history: {short(left, 200)}")


@metric("is_cookie_deleted")
def is_cookie_deleted(result: Any, rules: Any, **options: Any) -> Score:
    """1 when no cookie's domain (the ``cookie_data`` getter's second column) is one of ``rules["domains"]``
    (``type: domains``), domains compared as URLs are (:func:`same_url`)."""
    rules, _ = _rule_type(rules, ("domains",))
    if not isinstance(result, list):
        return NO_RESULT
    left = sorted({row[1] for row in result if any(same_url(domain, row[1]) for domain in rules["domains"])})
    return verdict(not left, "no cookie of those domains", f"cookies left for {short(left, 200)}")


@metric("is_shortcut_on_desktop")
def is_shortcut_on_desktop(result: Any, rules: Any, **options: Any) -> Score:
    """1 when a desktop shortcut (as the ``shortcuts_on_desktop`` getter reads them) has the line
    ``Name=<rules["name"]>`` (``type: name``), or is JSON whose ``data.description`` contains
    ``rules["description"]`` (``type: description``)."""
    rules, kind = _rule_type(rules, ("name", "description"))
    if not isinstance(result, dict):
        return NO_RESULT

    def described(text: str) -> bool:
        try:
            return rules["description"] in json.loads(text)["data"]["description"]
        except (ValueError, KeyError, TypeError):
            return False

    found = [name for name, text in result.items()
             if (f"Name={rules['name']}\n" in text if kind == "name" else described(text))]
    return verdict(bool(found), f"shortcut {found[0] if found else ''}",
                   f"no shortcut with that {kind} among {sorted(result)}")


@metric("is_expected_installed_extensions")
def is_expected_installed_extensions(result: Any, expected: Any, **options: Any) -> Score:
    """1 when every name of ``expected["expected"]`` is installed (in the ``find_installed_extension_name``
    getter's list): exactly, or with ``expected["match"] == "substring"`` as part of an installed name, any case."""
    expected = rules_of(expected, "{'expected': [names], 'match': 'exact' | 'substring'}")
    names, match = expected.get("expected"), expected.get("match", "exact")
    if not isinstance(names, list) or match not in ("exact", "substring"):
        raise ValueError(f"expected must be {{'expected': [names], 'match': 'exact' | 'substring'}}, got "
                         f"{short(expected)}")
    if not isinstance(result, list):
        return NO_RESULT
    if match == "substring":
        missing = [n for n in names if not any(n.lower() in installed.lower() for installed in result)]
    else:
        missing = [n for n in names if n not in result]
    return verdict(not missing, f"all {len(names)} installed", f"not installed: {short(missing, 200)}")


@metric("is_added_to_steam_cart")
def is_added_to_steam_cart(result: Any, rules: Any, **options: Any) -> Score:
    """1 when every one of ``rules["items"]`` is in the page's HTML (the ``page_info`` getter's ``content``)."""
    items = rules_of(rules, "{'items': [texts]}").get("items")
    if not isinstance(items, list) or not items:
        raise ValueError(f"rules['items'] must be a non-empty list of texts, got {short(items)}")
    if not isinstance(result, dict) or not isinstance(result.get("content"), str):
        return NO_RESULT
    missing = [item for item in items if item not in result["content"]]
    return verdict(not missing, f"all {len(items)} items on the page", f"not on the page: {short(missing, 200)}")
