"""Browser and document-export metrics (URLs, tabs, bookmarks, PDFs, HTML pages, archives), with the rules of
OSWorld's ``metrics/chrome.py``, and the browser getters that read the env's Chrome (Chromium stands in for it
here).

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
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from step_envs.checkers.devtools import DEVTOOLS_PORT
from step_envs.checkers.general import rules_of, similarity, verdict
from step_envs.checkers.getters import check_tree, env_python
from step_envs.checkers.registry import (
    NO_RESULT,
    CheckContext,
    Score,
    get_metric,
    getter,
    metric,
    short,
)
from step_envs.server.client import A11yError

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


def pdf_text(path: str) -> str:
    """The text of every page of a PDF, joined, stripped (pypdf's extraction; OSWorld uses PyMuPDF's)."""
    from pypdf import PdfReader

    return "".join(page.extract_text() or "" for page in PdfReader(path).pages).strip()


@metric("compare_pdfs")
def compare_pdfs(result: Any, expected: Any, **options: Any) -> Score:
    """Mean over the file pairs of the similarity (2 M / T) of their text; a pair that cannot be read scores 0."""
    pairs = list(zip(result, expected, strict=True)) if isinstance(expected, list) else [(result, expected)]
    if result is None or not pairs:
        return NO_RESULT
    scores, reasons = [], []
    for got, want in pairs:
        try:
            scores.append(similarity(pdf_text(got), pdf_text(want)))
        except Exception as exc:
            scores.append(0.0)
            reasons.append(f"{short(got)}: {type(exc).__name__}: {exc}")
    value = sum(scores) / len(pairs)
    return Score(value, f"text similarity {value:.3f}" + (f" ({'; '.join(reasons)})" if reasons else ""))


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


ARCHIVE_FILE_TYPES = {"text": "compare_text_file", "pdf": "compare_pdfs", "docx": "compare_docx_files",
                      "ppt": "compare_pptx_files", "image": "compare_images", "csv": "compare_csv",
                      "table": "compare_table", "audio": "compare_audios", "video": "compare_videos"}
"""``compare_archive``'s ``file_type`` -> the metric comparing the archives' files."""


def _archive_options(options: dict[str, Any]) -> list[str]:
    kind = options.get("file_type", "text")
    if kind not in ARCHIVE_FILE_TYPES:
        return [f"file_type {kind!r} unknown; use one of {', '.join(ARCHIVE_FILE_TYPES)}"]
    return []


@metric("compare_archive", check_options=_archive_options)
def compare_archive(result: str | None, expected: str | None, file_path: str = "", file_type: str = "text",
                    **options: Any) -> Score:
    """Unpack both archives (zip, tar...); 1 only when the folder ``file_path`` inside them lists the same names,
    then the mean of ``file_type``'s metric (see ``ARCHIVE_FILE_TYPES``, given the other options) over the files."""
    if result is None:
        return NO_RESULT
    if file_type not in ARCHIVE_FILE_TYPES:
        raise ValueError(_archive_options({"file_type": file_type})[0])
    compare = get_metric(ARCHIVE_FILE_TYPES[file_type])
    with tempfile.TemporaryDirectory(prefix="step-gym-archive-") as scratch:
        roots = []
        for name, archive in (("result", result), ("expected", expected)):
            root = Path(scratch) / name
            shutil.unpack_archive(str(archive), root)
            roots.append(root / file_path)
        names = [sorted(path.name for path in root.iterdir()) if root.is_dir() else [] for root in roots]
        if names[0] != names[1]:
            return Score(0.0, f"the archive holds {short(names[0], 160)}, expected {short(names[1], 160)}")
        if not names[0]:
            return Score(0.0, f"no files under {file_path or 'the top'} of the archives")
        total = 0.0
        for name in names[0]:
            raw = compare(str(roots[0] / name), str(roots[1] / name), **options)
            total += raw.value if isinstance(raw, Score) else float(raw)
    value = total / len(names[0])
    return Score(value, f"{len(names[0])} {file_type} files, mean {value:.3f}")


def _tabs(ctx: CheckContext) -> list[dict[str, Any]] | None:
    """Chrome's page targets from the DevTools HTTP endpoint in the env, most recently active first."""
    script = (f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{DEVTOOLS_PORT}/json', "
              "timeout=10).read().decode())")
    output = env_python(ctx, script)
    if not output:
        return None
    return [target for target in json.loads(output) if target.get("type") == "page"]


@getter("open_tabs_info")
def open_tabs_info(ctx: CheckContext, config: dict[str, Any]) -> list[dict[str, str]] | None:
    """``[{"title", "url"}]`` of Chrome's open tabs (DevTools on port 9222 in the env); None when Chrome is not
    reachable there."""
    tabs = _tabs(ctx)
    return None if tabs is None else [{"title": tab.get("title", ""), "url": tab.get("url", "")} for tab in tabs]


@getter("active_tab_info")
def active_tab_info(ctx: CheckContext, config: dict[str, Any]) -> dict[str, str] | None:
    """``{"title", "url"}`` of Chrome's most recently active tab (DevTools lists it first); None without a tab."""
    tabs = _tabs(ctx)
    if not tabs:
        return None
    return {"title": tabs[0].get("title", ""), "url": tabs[0].get("url", "")}


_ADDRESS_BAR = ('application[name="Google Chrome"] entry[name="Address and search bar"], '
                'application[name="Chromium"] entry[name="Address and search bar"]')


@getter("active_url_from_accessTree")
def active_url_from_access_tree(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The text of Chrome's (or Chromium's) address bar, read from the accessibility tree (the last such bar), with
    ``goto_prefix`` (default ``https://``) put before it. When the tree shows no address bar with text (a session
    without accessibility), the URL of the most recently active tab from DevTools, which is whole already; None
    when neither has one."""
    import lxml.etree
    from lxml.cssselect import CSSSelector

    from step_envs.checkers.apps import A11Y_NAMESPACES

    try:
        tree = lxml.etree.fromstring(check_tree(ctx).encode())
        elements = CSSSelector(_ADDRESS_BAR, namespaces=A11Y_NAMESPACES)(tree)
    except A11yError:
        elements = []
    if elements and elements[-1].text:
        return f"{config.get('goto_prefix', 'https://')}{elements[-1].text}"
    active = active_tab_info(ctx, config)
    return active["url"] if active and active["url"] else None
