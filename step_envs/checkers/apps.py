"""Metrics on apps' settings and state files (VS Code, GIMP, Thunderbird, the accessibility tree), with the rules
of OSWorld's ``vscode.py``, ``gimp.py``, ``thunderbird.py`` and ``general.py`` (VLC's are in
:mod:`step_envs.checkers.vlc`).
"""

from __future__ import annotations

import importlib.util
import json
import operator
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from step_envs.checkers.files import read_text
from step_envs.checkers.general import expected_of, rules_of, rules_with, similarity, verdict
from step_envs.checkers.getters import (
    COMMAND_TIMEOUT_S,
    env_home_file,
    save_to_cache,
    text_of,
)
from step_envs.checkers.registry import NO_RESULT, CheckContext, Score, getter, metric, short

A11Y_NAMESPACES = {
    prefix: f"https://accessibility.ubuntu.example.org/ns/{path}"
    for prefix, path in (("st", "state"), ("attr", "attributes"), ("cp", "component"), ("doc", "document"),
                         ("docattr", "document/attributes"), ("txt", "text"), ("val", "value"), ("act", "action"))
}
"""The namespaces of the accessibility tree's XML (OSWorld's, for Ubuntu)."""


def _load_json(path: str, skip_first_line: bool = False) -> Any:
    text = read_text(path)
    return json.loads(text.split("\n", 1)[1] if skip_first_line and "\n" in text else text)


@metric("check_json_settings")
def check_json_settings(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when the JSON settings file has every key of ``rules["expected"]`` with an equal value, else 0 (also for a
    file that is not JSON)."""
    expected = expected_of(rules)
    if not isinstance(expected, dict):
        raise ValueError(f"rules['expected'] must be a dict of settings, got {short(expected)}")
    if result is None:
        return NO_RESULT
    try:
        data = _load_json(result)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Score(0.0, f"settings are not JSON: {exc}")
    if not isinstance(data, dict):
        return Score(0.0, f"settings are not a JSON object: {short(data)}")
    for key, value in expected.items():
        if key not in data or data[key] != value:
            return Score(0.0, f"{key!r} is {short(data.get(key, '<absent>'))}, expected {short(value)}")
    return Score(1.0, f"all {len(expected)} settings match")


@metric("check_json_keybindings")
def check_json_keybindings(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``rules["expected"]`` (one binding) is an element of the keybindings JSON list. VS Code writes a
    comment on the file's first line, so a file that does not parse is read again without it."""
    expected = expected_of(rules)
    if result is None:
        return NO_RESULT
    data = None
    for skip in (False, True):
        try:
            data = _load_json(result, skip_first_line=skip)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, list):
            break
    if not isinstance(data, list):
        return Score(0.0, "keybindings are not a JSON list")
    return verdict(expected in data, f"binding {short(expected)} found", f"binding {short(expected)} not among "
                   f"{len(data)} bindings")


@metric("is_extension_installed")
def is_extension_installed(result: str | None, rules: Any, **options: Any) -> Score:
    """``rules["type"]`` ``contain``: 1 when ``rules["expected"]`` is a substring of the result (e.g. the output of
    ``code --list-extensions``); ``not_contain``: 1 when it is not."""
    rules = rules_of(rules, "{'type': 'contain' | 'not_contain', 'expected': text}")
    kind, expected = rules.get("type"), expected_of(rules)
    if kind not in ("contain", "not_contain"):
        raise ValueError(f"rules['type'] is {kind!r}; use 'contain' or 'not_contain'")
    if result is None:
        return NO_RESULT
    found = expected in result
    return verdict(found == (kind == "contain"), f"{expected!r} {'found' if found else 'absent'}",
                   f"{expected!r} {'found' if found else 'absent'} ({kind})")


def _is_subset(expected: Any, actual: Any) -> bool:
    """Every key of a dict ``expected`` is in ``actual`` with a subset value; other values (lists too) are equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _is_subset(v, actual[k]) for k, v in expected.items())
    return bool(expected == actual)


@metric("compare_config")
def compare_config(result: str | None, rules: Any, containment_ok: bool = True, **options: Any) -> Score:
    """The config file against ``rules["expected"]`` (text). With ``containment_ok`` (default): 1 when both parse as
    JSON and the expected one is a subset of the file's (dicts by key, recursively), or, when they do not parse, the
    expected text (stripped) occurs in the file. Without: 1 when the texts are equal or parse to equal JSON."""
    expected = expected_of(rules)
    if not isinstance(expected, str) or not expected:
        raise ValueError(f"rules['expected'] must be non-empty text, got {short(expected)}")
    if result is None:
        return NO_RESULT
    actual = read_text(result)
    try:
        parsed: tuple[Any, Any] | None = (json.loads(actual), json.loads(expected))
    except json.JSONDecodeError:
        parsed = None
    if containment_ok:
        if parsed is not None:
            return verdict(_is_subset(parsed[1], parsed[0]), "the expected settings are in the file",
                           "the expected settings are not all in the file")
        return verdict(expected.strip() in actual, "the expected text is in the file", "the expected text is absent")
    same = actual == expected or (parsed is not None and parsed[0] == parsed[1])
    return verdict(same, "the file equals the expected config", "the file differs from the expected config")


@metric("check_python_file_by_test_suite")
def check_python_file_by_test_suite(result: Any, expected: str | None, test_function_name: str = "test",
                                    **options: Any) -> Score:
    """With the files to test fetched (``result``: a path or a list of paths, all present), import the test file
    ``expected`` (a host path; its folder is the working directory and first on
    ``sys.path`` meanwhile; the modules it imports are forgotten after) and call its ``test_function_name``: a bool scores 1/0, a number is clipped to [0, 1],
    anything else scores its truth. Loading or running errors score 0. The test runs in this (the host's) process:
    only run task files you trust."""
    fetched = result if isinstance(result, list) else [result]
    if not all(isinstance(path, str) and Path(path).is_file() for path in fetched):
        return Score(0.0, f"the files to test are not all there: {short(result)}")
    if not isinstance(expected, str) or not Path(expected).is_file():
        return Score(0.0, f"test file {short(expected)} missing")
    path = Path(expected).resolve()
    name = f"step_gym_task_test_{uuid.uuid4().hex[:8]}"
    cwd, saved_path, loaded = os.getcwd(), list(sys.path), set(sys.modules)
    importlib.invalidate_caches()
    try:
        os.chdir(path.parent)
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            return Score(0.0, f"{path} is not an importable Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        test = getattr(module, test_function_name, None)
        if not callable(test):
            return Score(0.0, f"{path.name} has no function {test_function_name!r}")
        outcome = test()
    except Exception as exc:
        return Score(0.0, f"the test suite failed: {type(exc).__name__}: {exc}")
    finally:
        for added in set(sys.modules) - loaded:  # the suite's module and what it imported from beside it
            origin = getattr(sys.modules.get(added), "__file__", None) or ""
            if added == name or Path(origin).resolve().is_relative_to(path.parent):
                sys.modules.pop(added, None)
        os.chdir(cwd)
        sys.path[:] = saved_path
    if isinstance(outcome, int | float) and not isinstance(outcome, bool):
        return Score(min(1.0, max(0.0, float(outcome))), f"{test_function_name}() returned {outcome}")
    return verdict(bool(outcome), f"{test_function_name}() passed", f"{test_function_name}() returned {outcome!r}")


@metric("check_config_status")
def check_config_status(result: str | None, rules: Any, **options: Any) -> Score:
    """GIMP's ``gimprc``-style file (lines ``(key ... value)``): 1 when a line's first word is ``rules["key"]`` (or
    its first two words are the two listed keys) and its last word is ``rules["value"]``."""
    rules = rules_of(rules, "{'key': name or [name, sub-name], 'value': text}")
    key, value = rules.get("key"), rules.get("value")
    keys = [key] if isinstance(key, str) else key
    if not (isinstance(keys, list) and 1 <= len(keys) <= 2 and all(isinstance(k, str) for k in keys)):
        raise ValueError(f"rules['key'] must be a name or a list of two names, got {short(key)}")
    if result is None:
        return NO_RESULT
    for line in read_text(result).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = line.strip().lstrip("(").rstrip(")").split()
        if words[: len(keys)] == keys and words[-1] == value:
            return Score(1.0, f"{' '.join(keys)} is {value}")
    return Score(0.0, f"no line sets {' '.join(keys)} to {value}")


def match_value(value: Any, rule: dict[str, Any]) -> bool:
    """OSWorld's value rule ``{"method", "ref"}``: ``re`` (or ``re.IGNORECASE``... flags joined by dots) searches
    the pattern ``ref`` in the value; ``eq``/``ne``/``lt``/``le``/``gt``/``ge`` compare; ``approx:T`` is
    ``|float(value) - ref| <= T``."""
    method, ref = rule.get("method"), rule.get("ref")
    if not isinstance(method, str):
        raise ValueError(f"a value rule needs a 'method', got {short(rule)}")
    if method.startswith("re"):
        flags = 0
        for flag in method.split(".")[1:]:
            flags |= getattr(re, flag)
        return re.search(ref, str(value), flags) is not None
    if method in ("eq", "ne", "lt", "le", "gt", "ge"):
        return bool(getattr(operator, method)(value, ref))
    if method.startswith("approx:"):
        try:
            return abs(float(value) - float(ref)) <= float(method.split(":", 1)[1])
        except (TypeError, ValueError):
            return False
    raise ValueError(f"value rule method {method!r} unknown; use re[.FLAG...], eq, ne, lt, le, gt, ge or approx:T")


_PREF = re.compile(r'^user_pref\("(?P<key>(?:[^"]|\\")+)", (?P<value>.+)\);$')


@metric("check_thunderbird_prefs")
def check_thunderbird_prefs(result: str | None, rules: Any, **options: Any) -> Score:
    """Thunderbird's ``prefs.js``: 1 when every pref in ``rules["expect"]`` is set and matches its value rule
    (:func:`match_value`) and no pref in ``rules["unexpect"]`` is set to a value its rule matches."""
    rules = rules_of(rules, "{'expect': {pref: rule}, 'unexpect': {pref: rule}}")
    expect, unexpect = rules.get("expect", {}), rules.get("unexpect", {})
    if not (isinstance(expect, dict) and isinstance(unexpect, dict) and (expect or unexpect)):
        raise ValueError(f"rules must name prefs under 'expect' and/or 'unexpect', got {short(rules)}")
    if result is None:
        return NO_RESULT
    met = dict.fromkeys(expect, False)
    for line in read_text(result).splitlines():
        found = _PREF.match(line.strip())
        if found is None:
            continue
        key, value = found["key"], json.loads(found["value"])
        if key in expect:
            met[key] = match_value(value, expect[key])
        elif key in unexpect and match_value(value, unexpect[key]):
            return Score(0.0, f"pref {key!r} is {short(value)}, which the task forbids")
    missing = [key for key, ok in met.items() if not ok]
    return verdict(not missing, f"all {len(met)} prefs as expected", f"prefs not as expected: {', '.join(missing)}")


_CONDITION = re.compile(r"\b(?:AND|OR) \((?:[\w ]+),(?:[\w ']+),(?:\"(?:(?:[^\"]|\")+)\"|(?:[^)]+))\)|\bALL\b")


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


def _filters(text: str) -> list[dict[str, Any]]:
    """Thunderbird's ``msgFilterRules.dat``: one dict per filter, keys name, enabled, type, action, actionValue and
    condition (the list of its ``AND (...)``/``OR (...)``/``ALL`` terms); a filter is complete at its condition."""
    filters, current = [], {}
    for line in text.splitlines():
        key, _, raw = line.partition("=")
        if key not in ("name", "enabled", "type", "action", "actionValue", "condition") or len(raw) < 2:
            continue
        value = _unescape(raw[1:-1])
        if key == "name":
            current = {}
        if key == "condition":
            current["condition"] = _CONDITION.findall(value)
            filters.append(current)
        else:
            current[key] = value
    return filters


def _matches_record(pattern: dict[str, Any], item: dict[str, Any]) -> bool:
    return all(key in item and item[key] == value for key, value in pattern.items())


@metric("check_thunderbird_filter")
def check_thunderbird_filter(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when each record of ``rules["expect"]`` equals (on its keys) some filter of the file and no filter equals a
    record of ``rules["unexpect"]``; a condition is the list of its terms, e.g. ``["AND (subject,contains,x)"]``."""
    rules = rules_with(rules, ("expect", "unexpect"), "{'expect': [record], 'unexpect': [record]}")
    if result is None:
        return NO_RESULT
    filters = _filters(read_text(result))
    for record in rules.get("unexpect", []):
        if any(_matches_record(record, item) for item in filters):
            return Score(0.0, f"a filter matches the forbidden {short(record)}")
    missing = [r for r in rules.get("expect", []) if not any(_matches_record(r, item) for item in filters)]
    return verdict(not missing, f"{len(filters)} filters, all expected found",
                   f"no filter matches {short(missing[0]) if missing else ''}")


def _mailbox(path: str, options: dict[str, Any]) -> str:
    """The messages of an mbox folder file (split at ``FROM - ``), normalised and sorted, as text.

    Options: ``ignore_status`` drops ``X-Mozilla-Status`` headers, ``ignore_keys`` drops ``X-Mozilla-Keys`` lines
    before ``MIME-Version``, ``remove_deleted`` (default on) drops messages with status 0008/0009,
    ``remove_duplicate`` (default on) keeps one of equal messages."""
    messages = []
    for mail in read_text(path).strip().split("FROM - "):
        if not mail.strip():
            continue
        if options.get("remove_deleted", True) and re.search(r"X-Mozilla-Status: 000[89]", mail):
            continue
        if options.get("ignore_status", False):
            mail = re.sub(r"X-Mozilla-Status\d?:[\s\d]+", "", mail)
        if options.get("ignore_keys", False):
            mail = re.sub(r"(X-Mozilla-Keys:[^\n]*?)\n(MIME-Version)", r"\2", mail)
        messages.append("FROM - " + mail.strip())
    if options.get("remove_duplicate", True):
        messages = list(set(messages))
    return "\n".join(sorted(messages))


@metric("check_thunderbird_folder")
def check_thunderbird_folder(result: Any, expected: Any, **options: Any) -> Score:
    """1 when each mail folder file holds the same messages as its expected file (see :func:`_mailbox`).

    OSWorld's version skips every non-blank message by mistake, so it compares empty texts; here the messages are
    really compared."""
    pairs = list(zip(result, expected, strict=True)) if isinstance(result, list) else [(result, expected)]
    for got, want in pairs:
        if got is None:
            return NO_RESULT
        if _mailbox(got, options) != _mailbox(str(want), options):
            return Score(0.0, f"{Path(got).name} holds other messages than {Path(str(want)).name}")
    return Score(1.0, f"{len(pairs)} folder(s) match")


@metric("check_accessibility_tree")
def check_accessibility_tree(result: str | None, rules: Any, osname: str = "ubuntu", **options: Any) -> Score:
    """The product over rules of each rule's match: the elements its ``xpath`` (or CSS ``selectors``, joined by
    commas) selects in the tree must exist; with ``text``, the best element's text equals it (``exact``, default
    true) or its similarity to it (2 M / T) counts. No element for a rule scores 0."""
    import lxml.etree
    from lxml.cssselect import CSSSelector

    if osname != "ubuntu":
        raise ValueError(f"osname {osname!r}: only 'ubuntu' trees are made here")
    rules = rules if isinstance(rules, list) else [rules]
    if not rules or not all(isinstance(r, dict) and ("xpath" in r or "selectors" in r) for r in rules):
        raise ValueError(f"needs a list of rules with 'xpath' or 'selectors', got {short(rules)}")
    if result is None:
        return NO_RESULT
    tree = lxml.etree.fromstring(result.encode())
    total = 1.0
    for rule in rules:
        if "xpath" in rule:
            elements = tree.xpath(rule["xpath"], namespaces=A11Y_NAMESPACES)
        else:
            elements = CSSSelector(", ".join(rule["selectors"]), namespaces=A11Y_NAMESPACES)(tree)
        if not elements:
            return Score(0.0, f"no element matches {short(rule.get('xpath') or rule.get('selectors'))}")
        if "text" in rule:
            texts = [element.text or "" for element in elements]
            if rule.get("exact", True):
                total *= float(rule["text"] in texts)
            else:
                total *= max(similarity(rule["text"], text) for text in texts)
    return Score(total, f"{len(rules)} rule(s), match {total:g}")


@getter("gimp_config_file")
def gimp_config_file(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """GIMP 2.10's ``~/.config/GIMP/2.10/<file_name>`` in the env, fetched into ``cache_dir/dest``."""
    return save_to_cache(ctx, config, env_home_file(ctx, f"~/.config/GIMP/2.10/{text_of(config, 'file_name')}"))


@getter("vscode_config")
def vscode_config(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """Run ``vscode_extension_command`` from VS Code's command palette (ctrl+shift+p, type it, enter; the command
    writes the state to ``path``), wait a second, then fetch ``path`` into ``cache_dir/dest``."""
    command = text_of(config, "vscode_extension_command")
    ctx.client.act(f"import pyautogui, time; pyautogui.hotkey('ctrl', 'shift', 'p'); time.sleep(0.5); "
                   f"pyautogui.typewrite({command!r}); pyautogui.press('enter'); time.sleep(1.0)",
                   timeout=ctx.time_left(COMMAND_TIMEOUT_S))
    return save_to_cache(ctx, config, ctx.client.get_file(text_of(config, "path")))
