"""Metrics on text files and directory trees fetched out of an env (OSWorld's ``general.py``/``docs.py`` rules)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from step_envs.checkers.general import expected_of, first_difference, rules_with, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


def read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8", errors="replace")


def _collapse(text: str, ignore_blanks: bool, ignore_case: bool) -> str:
    if ignore_blanks:
        text = re.sub(r"\s+", " ", text).strip()
    return text.lower() if ignore_case else text


@metric("compare_text_file")
def compare_text_file(result: str | None, expected: str | None, ignore_blanks: bool = False,
                      ignore_case: bool = False, **options: Any) -> Score:
    """1 when the two files hold the same text, else 0. ``ignore_blanks`` turns every run of whitespace (newlines
    included) into one space and strips the ends; ``ignore_case`` lower-cases both."""
    if result is None or expected is None:
        return NO_RESULT
    got = _collapse(read_text(result), ignore_blanks, ignore_case)
    want = _collapse(read_text(expected), ignore_blanks, ignore_case)
    if got == want:
        return Score(1.0, "same text")
    if ignore_blanks:
        return Score(0.0, first_difference(got.split(" "), want.split(" "), "word"))
    return Score(0.0, first_difference(got.splitlines(), want.splitlines(), "line"))


@metric("diff_text_file")
def diff_text_file(result: str | None, expected: str | None, ignore_blanks: bool = False,
                   ignore_case: bool = False, **options: Any) -> Score:
    """The line-level similarity ``2 * M / T`` of the two files (M lines in matching blocks, T both line counts
    summed), in [0, 1]. ``ignore_blanks`` collapses whitespace within lines and drops blank lines first."""
    if result is None or expected is None:
        return NO_RESULT

    def lines(path: str) -> list[str]:
        collapsed = [_collapse(line, ignore_blanks, ignore_case) for line in read_text(path).splitlines()]
        return [line for line in collapsed if line] if ignore_blanks else collapsed

    got, want = lines(result), lines(expected)
    ratio = difflib.SequenceMatcher(None, got, want, autojunk=False).ratio()
    return Score(ratio, "same lines" if got == want else first_difference(got, want, "line"))


@metric("check_list")
def check_list(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when every regex of ``rules["expect"]`` matches some line of the file and no regex of
    ``rules["unexpect"]`` matches any line, else 0."""
    if result is None:
        return NO_RESULT
    rules = rules_with(rules, ("expect", "unexpect"), "{'expect': [regex, ...], 'unexpect': [regex, ...]}")
    lines = read_text(result).splitlines()
    for pattern in rules.get("expect", []):
        if not any(re.search(pattern, line) for line in lines):
            return Score(0.0, f"no line matches {pattern!r}")
    for pattern in rules.get("unexpect", []):
        hits = [line for line in lines if re.search(pattern, line)]
        if hits:
            return Score(0.0, f"line {short(hits[0])} matches unexpected {pattern!r}")
    return Score(1.0, "all expected patterns found, no unexpected one")


@metric("file_contains")
def file_contains(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when the file's text contains every string of ``rules["expected"]`` (a string or a list), else 0."""
    expected = expected_of(rules)
    if result is None:
        return NO_RESULT
    wanted = [expected] if isinstance(expected, str) else list(expected)
    text = read_text(result)
    missing = [want for want in wanted if want not in text]
    return verdict(not missing, f"contains all {len(wanted)} strings", f"{short(missing)} not in {Path(result).name}")


@metric("check_file_exists")
def check_file_exists(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when the result getter produced a file (e.g. ``vm_file`` found it), else 0."""
    if result is None:
        return NO_RESULT
    return verdict(Path(result).is_file(), f"{Path(result).name} exists", f"{result} is not a file")


def _tree_paths(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """Every path below a ``list_directory`` tree, relative to its root (``"a"``, ``"a/b.txt"``)."""
    paths: set[str] = set()
    for child in tree.get("children", []):
        path = prefix + child["name"]
        paths.add(path)
        if child.get("type") == "directory":
            paths |= _tree_paths(child, path + "/")
    return paths


@metric("exists_in_directory")
def exists_in_directory(result: dict[str, Any] | None, rules: Any, **options: Any) -> Score:
    """1 when every name of ``rules["expected"]`` (a string or a list; ``a/b.txt`` reaches into sub-folders) is in
    the ``list_directory`` tree, else 0."""
    expected = expected_of(rules)
    if result is None:
        return NO_RESULT
    if "error" in result:
        return Score(0.0, f"directory could not be read: {result['error']}")
    wanted = [expected] if isinstance(expected, str) else list(expected)
    present = _tree_paths(result)
    missing = [name.strip("/") for name in wanted if name.strip("/") not in present]
    return verdict(not missing, f"all {len(wanted)} names present", f"{short(missing)} not in {result.get('name')!r}")
