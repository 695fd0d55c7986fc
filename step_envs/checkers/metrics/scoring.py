"""What every metric uses: the task's rules read with a clear error, a file's text, text similarity, where two
sequences first differ, and the verdict.

Rule-based metrics take the expected side from a ``rule`` getter: ``{"type": "rule", "rules": {"expected": ...}}``.
"""

from __future__ import annotations

import difflib
import itertools
from pathlib import Path
from typing import Any

from step_envs.checkers.registry import Score, short


def read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8", errors="replace")


def similarity(a: str, b: str) -> float:
    """``2 * M / T``: M characters in matching blocks, T the two lengths summed (difflib; 1.0 for two empty strings)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def expected_of(rules: Any) -> Any:
    """``rules["expected"]``, or a ValueError saying which getter the task needs."""
    if not isinstance(rules, dict) or "expected" not in rules:
        raise ValueError(f"needs rules with an 'expected' key (getter 'rule'), got {short(rules)}")
    return rules["expected"]


def rules_of(rules: Any, shape: str) -> dict[str, Any]:
    """``rules`` when it is a dict, or a ValueError naming the ``shape`` the metric needs."""
    if not isinstance(rules, dict):
        raise ValueError(f"needs rules {shape} (getter 'rule'), got {short(rules)}")
    return rules


def rules_with(rules: Any, keys: tuple[str, ...], shape: str) -> dict[str, Any]:
    """``rules`` when it is a dict with a non-empty list under one of ``keys`` at least; rules that ask for nothing
    would pass any result, so they are refused."""
    rules = rules_of(rules, shape)
    for key in keys:
        if not isinstance(rules.get(key, []), list):
            raise ValueError(f"rules[{key!r}] must be a list, got {short(rules[key])}")
    if not any(rules.get(key) for key in keys):
        raise ValueError(f"rules {short(rules)} name nothing to check; give {' or '.join(keys)}")
    return rules


def first_difference(left: list[Any], right: list[Any], unit: str) -> str:
    """Where two sequences first differ: ``"line 3: 'a' != 'b'"`` (None where one of them has run out)."""
    for index, (a, b) in enumerate(itertools.zip_longest(left, right)):
        if a != b:
            return f"{unit} {index + 1}: {short(a)} != {short(b)}"
    return "no difference"


def verdict(passed: bool, success: str, failure: str) -> Score:
    return Score(1.0, success) if passed else Score(0.0, failure)
