"""Metrics on values (command output, rules, JSON), with the rules of OSWorld's ``metrics/general.py``: equal,
listed, similar, including and excluding, a JSON object's keys.
"""

from __future__ import annotations

import json
from typing import Any

from step_envs.checkers.metrics.scoring import expected_of, rules_with, similarity, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


@metric("exact_match")
def exact_match(result: Any, rules: Any, **options: Any) -> Score:
    """1 when ``result == rules["expected"]``, else 0."""
    expected = expected_of(rules)
    return verdict(result == expected, f"{short(result)} == {short(expected)}", f"{short(result)} != {short(expected)}")


def container(value: Any, role: str) -> str | list[Any] | tuple[Any, ...] | set[Any] | dict[Any, Any]:
    """``value`` when ``in`` can search it (text, list, tuple, set, dict), else a ValueError naming the ``role``."""
    if not isinstance(value, str | list | tuple | set | dict):
        raise ValueError(f"{role} must be text or a list to search in, got {short(value)}")
    return value


@metric("is_in_list")
def is_in_list(result: Any, rules: Any, **options: Any) -> Score:
    """1 when ``rules["expected"]`` is an element (or substring) of ``result``, else 0."""
    expected = expected_of(rules)
    if result is None:
        return NO_RESULT
    found = isinstance(expected, str) or not isinstance(result, str)
    found = found and expected in container(result, "the result")
    return verdict(found, f"{short(expected)} in result", f"{short(expected)} not in {short(result)}")


@metric("match_in_list")
def match_in_list(result: Any, rules: Any, **options: Any) -> Score:
    """1 when ``result`` is one of the values listed in ``rules["expected"]``, else 0."""
    expected = expected_of(rules)
    if result is None:
        return NO_RESULT
    return verdict(result in container(expected, "rules['expected']"), f"{short(result)} is listed",
                   f"{short(result)} not in {short(expected)}")


@metric("literal_match")
def literal_match(result: Any, expected: Any, type: str = "str", ignore_case: bool = False, **options: Any) -> Score:
    """``type="str"``: 1 when ``str(result) == str(expected)``; ``type="list"``: 1 when both are lists (or tuples)
    of the same length whose elements are equal as strings. ``ignore_case`` lower-cases first."""

    def text(value: Any) -> str:
        return str(value).lower() if ignore_case else str(value)

    if result is None:
        return NO_RESULT
    if type == "str":
        return verdict(text(result) == text(expected), "equal", f"{short(text(result))} != {short(text(expected))}")
    if type == "list":
        if not isinstance(result, list | tuple) or not isinstance(expected, list | tuple):
            return Score(0.0, f"{short(result)} and {short(expected)} are not both lists")
        left, right = [text(v) for v in result], [text(v) for v in expected]
        return verdict(left == right, "equal", f"{short(left)} != {short(right)}")
    raise ValueError(f"literal_match type {type!r} is not supported; use 'str' or 'list'")


@metric("fuzzy_match")
def fuzzy_match(result: Any, rules: Any, **options: Any) -> Score:
    """The similarity ratio of ``result`` and ``rules["expected"]`` (see
    :func:`~step_envs.checkers.metrics.scoring.similarity`), in [0, 1]."""
    expected = expected_of(rules)
    if result is None:
        return NO_RESULT
    if not isinstance(result, str) or not isinstance(expected, str):
        raise ValueError(f"fuzzy_match compares two texts, got {short(result)} and {short(expected)}")
    return Score(similarity(result, expected), f"{short(result)} ~ {short(expected)}")


@metric("check_include_exclude")
def check_include_exclude(result: Any, rules: Any, **options: Any) -> Score:
    """1 when ``result`` contains every string of ``rules["include"]`` and none of ``rules["exclude"]``, else 0."""
    if result is None:
        return NO_RESULT
    rules = rules_with(rules, ("include", "exclude"), "{'include': [...], 'exclude': [...]}")
    result = container(result, "the result")
    missing = [text for text in rules.get("include", []) if text not in result]
    present = [text for text in rules.get("exclude", []) if text in result]
    if missing:
        return Score(0.0, f"{short(missing)} not in {short(result)}")
    if present:
        return Score(0.0, f"excluded {short(present)} in {short(result)}")
    return Score(1.0, "includes all, excludes all")


def _json_object(result: Any) -> Any:
    """A JSON value: strings are parsed after OSWorld's repair of single quotes into double quotes."""
    if isinstance(result, str):
        return json.loads(result.strip().replace("'", '"'))
    return result


@metric("check_direct_json_object")
def check_direct_json_object(result: Any, rules: Any, **options: Any) -> Score:
    """Compare a JSON object (or its text) with ``rules["expected"]``, key by key.

    Default: every expected key has an equal value in the result (``ignore_list_order``, in the rules or in the
    expected object, compares list values sorted). ``expect_in_result``: a string value must be a substring of the
    result's value; a list value is a set of accepted answers, one of which must equal the result's value or be
    an element of it."""
    if result is None:
        return NO_RESULT
    expected = expected_of(rules)
    if not isinstance(expected, dict):
        raise ValueError(f"rules['expected'] must be a JSON object, got {short(expected)}")
    expected = dict(expected)
    in_expected = expected.pop("ignore_list_order", False)
    ignore_order = bool(rules.get("ignore_list_order", in_expected))
    try:
        actual = _json_object(result)
    except json.JSONDecodeError as exc:
        return Score(0.0, f"result is not JSON ({exc}): {short(result)}")
    if not isinstance(actual, dict):
        return Score(0.0, f"result is not a JSON object: {short(actual)}")
    for key, want in expected.items():
        got = actual.get(key)
        if rules.get("expect_in_result", False):
            if isinstance(want, list):
                passed = any((isinstance(got, list) and w in got) or (isinstance(got, str) and w == got) for w in want)
            elif isinstance(want, str):
                passed = isinstance(got, str) and want in got
            else:
                raise ValueError(f"expect_in_result supports str and list values, not {short(want)} at {key!r}")
        elif ignore_order and isinstance(want, list) and isinstance(got, list):
            passed = sorted(map(repr, want)) == sorted(map(repr, got))
        else:
            passed = want == got
        if not passed:
            return Score(0.0, f"key {key!r}: {short(got)} does not match {short(want)}")
    return Score(1.0, f"all {len(expected)} keys match")
