"""Metrics on text files, code and mail folders, with the rules of OSWorld's ``general.py``, ``docs.py``,
``vscode.py`` and ``thunderbird.py``: same text or lines, patterns present, timed report lines, an answer file,
Python code, a test suite run on the agent's code, a mail folder's messages.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from step_envs.checkers.metrics.scoring import expected_of, first_difference, read_text, rules_with, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


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


_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)")


@metric("check_line_number")
def check_line_number(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when as many lines of the text file as ``rules["expected"]`` hold a time of day (``HH:MM:SS``)."""
    wanted = int(expected_of(rules))
    if result is None or not Path(result).is_file():
        return NO_RESULT
    count = sum(1 for line in read_text(result).splitlines() if _CLOCK.search(line))
    return verdict(count == wanted, f"{count} timed lines", f"{count} timed lines, not {wanted}")


@metric("compare_result_files")
def compare_result_files(result: str | None, expected: str | None, **options: Any) -> Score:
    """The answer files' texts (stripped): when the expected one is a number, 1 if the result contains it as text
    or is a number within 1e-4 of it; otherwise 1 if the texts are equal."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = read_text(result).strip(), read_text(expected).strip()
    try:
        number = float(want)
        if want in got:
            return Score(1.0, f"the answer holds {want}")
        return verdict(abs(float(got) - number) < 1e-4, f"{got} is {want}", f"{short(got)} is not {want}")
    except ValueError:
        return verdict(got == want, "same answer", f"{short(got)} != {short(want)}")


def _code_lines(text: str) -> list[str]:
    """The non-blank lines of a Python file, tabs as 4 spaces, trailing blanks cut; a shebang or coding line among
    the first three lines is dropped."""
    lines = text.splitlines()
    start = 0
    while start < min(3, len(lines)) and lines[start].strip().startswith(("#!", "# -*- coding:", "# coding:",
                                                                          "# coding=")):
        start += 1
    return [line.expandtabs(4).rstrip() for line in lines[start:] if line.strip()]


@metric("compare_python_pure_text")
def compare_python_pure_text(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the two Python files hold the same non-blank lines (see :func:`_code_lines`)."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = _code_lines(read_text(result)), _code_lines(read_text(expected))
    return verdict(got == want, f"same {len(got)} code lines", first_difference(got, want, "code line"))


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
