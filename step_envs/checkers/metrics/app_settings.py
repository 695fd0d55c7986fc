"""Metrics on apps' settings files, with the rules of OSWorld's ``vscode.py``, ``gimp.py``,
``thunderbird.py`` and ``vlc.py``: VS Code's settings, keybindings, extensions and config files, GIMP's ``gimprc``,
Thunderbird's prefs and message filters, VLC's ``vlcrc``.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Any

from step_envs.checkers.metrics.scoring import expected_of, read_text, rules_of, rules_with, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


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


def vlcrc_settings(path: str) -> dict[str, str]:
    """The options ``vlcrc`` sets: its ``key=value`` lines that are not comments (VLC writes an option left at its
    default as a comment, ``#key=default``), values stripped; a later line wins."""
    settings = {}
    for line in read_text(path).splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith("#") and key.strip():
            settings[key.strip()] = value.strip()
    return settings


def _expected(rules: Any, key: str) -> str:
    """``rules[key]`` as text (OSWorld's tasks give numbers as ints)."""
    value = rules_of(rules, f"{{{key!r}: value}}").get(key)
    if value is None:
        raise ValueError(f"needs rules[{key!r}] (getter 'rule'), got {short(rules)}")
    return str(value)


def _option_is(result: str | None, option: str, default: str, wanted: str) -> Score:
    if result is None:
        return NO_RESULT
    value = vlcrc_settings(result).get(option, default)
    return verdict(value == wanted, f"{option} is {value}", f"{option} is {value!r}, not {wanted!r}")


@metric("check_qt_bgcone")
def check_qt_bgcone(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``qt-bgcone`` (the cone on the splash screen; VLC's default 1) is ``rules["expected_qt_bgcone"]``."""
    return _option_is(result, "qt-bgcone", "1", _expected(rules, "expected_qt_bgcone"))


@metric("check_qt_max_volume")
def check_qt_max_volume(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``qt-max-volume`` (default 125) is ``rules["expected_qt_max_volume"]``."""
    return _option_is(result, "qt-max-volume", "125", _expected(rules, "expected_qt_max_volume"))


@metric("check_qt_minimal_view")
def check_qt_minimal_view(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``qt-minimal-view`` (default 0) is ``rules["expected_qt_minimal_view"]``."""
    return _option_is(result, "qt-minimal-view", "0", _expected(rules, "expected_qt_minimal_view"))


@metric("check_one_instance_when_started_from_file")
def check_one_instance_when_started_from_file(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``one-instance-when-started-from-file`` (default 1) is the rules' expected value."""
    return _option_is(result, "one-instance-when-started-from-file", "1",
                      _expected(rules, "expected_one_instance_when_started_from_file"))


@metric("check_play_and_exit")
def check_play_and_exit(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``play-and-exit`` (quit at the end of the playlist; default 0) is ``rules["expected_play_and_exit"]``."""
    return _option_is(result, "play-and-exit", "0", _expected(rules, "expected_play_and_exit"))


@metric("check_global_key_play_pause")
def check_global_key_play_pause(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when a global play/pause hot key is set (``1``: ``global-key-play-pause`` names a key) or not (``0``), as
    ``rules["expected_global_key_play_pause"]`` asks."""
    wanted = _expected(rules, "expected_global_key_play_pause")
    if result is None:
        return NO_RESULT
    key = vlcrc_settings(result).get("global-key-play-pause", "")
    state = "1" if key else "0"
    return verdict(state == wanted, f"global play/pause key {key!r}", f"global play/pause key {key!r}: {state} "
                   f"is not {wanted}")


QT_SLIDER_COLOURS = "153;210;153;20;210;20;255;199;15;245;39;29"
"""VLC's default volume slider colours (four RGB triples)."""
BLACKISH_BELOW = 100


@metric("check_qt_slider_colours")
def check_qt_slider_colours(result: str | None, rules: Any, **options: Any) -> Score:
    """``rules["type"]`` ``match``: 1 when ``qt-slider-colours`` is ``rules["expected_qt_slider_colours"]``;
    ``blackish``: 1 when every channel of every colour is under :data:`BLACKISH_BELOW`."""
    rules = rules_of(rules, "{'type': 'match' | 'blackish', ...}")
    kind = rules.get("type")
    if kind not in ("match", "blackish"):
        raise ValueError(f"rules['type'] is {kind!r}; use 'match' or 'blackish'")
    if result is None:
        return NO_RESULT
    colours = vlcrc_settings(result).get("qt-slider-colours", QT_SLIDER_COLOURS)
    if kind == "match":
        wanted = _expected(rules, "expected_qt_slider_colours")
        return verdict(colours == wanted, f"slider colours {colours}", f"slider colours {colours!r}, not {wanted!r}")
    try:
        channels = [int(part) for part in colours.split(";")]
    except ValueError:
        return Score(0.0, f"slider colours {colours!r} are not numbers")
    return verdict(all(channel < BLACKISH_BELOW for channel in channels), f"slider colours {colours} are blackish",
                   f"slider colours {colours} are not all under {BLACKISH_BELOW}")


@metric("is_vlc_recordings_folder")
def is_vlc_recordings_folder(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``input-record-path`` (where recordings go) is the folder ``rules["recording_file_path"]`` (a
    trailing ``/`` aside); unset scores 0."""
    wanted = _expected(rules, "recording_file_path")
    if result is None:
        return NO_RESULT
    folder = vlcrc_settings(result).get("input-record-path")
    if folder is None:
        return Score(0.0, "input-record-path is not set")
    return verdict(folder.rstrip("/") == wanted.rstrip("/"), f"recordings go to {folder}", f"recordings go to {folder}, not "
                   f"{wanted}")
