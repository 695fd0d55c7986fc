"""Metrics on the desktop's system state, with the rules of OSWorld's ``metrics/basic_os.py``: the clipboard, the
time zone, favourite apps, files moved into a folder."""

from __future__ import annotations

import ast
from typing import Any

from step_envs.checkers.general import expected_of, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


@metric("is_in_vm_clickboard")
def is_in_vm_clickboard(result: Any, expected: Any, **options: Any) -> Score:
    """``result`` is the rule (``{"expected": text or [texts]}``) and ``expected`` the clipboard's text (e.g.
    ``xsel --clipboard --output``), as OSWorld's task passes them: 1 when the clipboard holds every text."""
    wanted = expected_of(result)
    if expected is None:
        return Score(0.0, "the clipboard could not be read")
    texts = wanted if isinstance(wanted, list) else [wanted]
    missing = [text for text in texts if text not in expected]
    return verdict(not missing, f"the clipboard holds {short(texts)}", f"{short(missing)} not in the clipboard "
                   f"{short(expected)}")


@metric("is_utc_0")
def is_utc_0(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when ``timedatectl status`` says the time zone is 0 hours from UTC (its fourth line, ``Time zone: ...``,
    ends with ``+0000)``)."""
    if result is None:
        return NO_RESULT
    lines = result.split("\n")
    zone = lines[3].strip() if len(lines) > 3 else ""
    return verdict(zone.endswith("+0000)"), zone, f"{zone or 'no time zone line'} is not UTC+0")


@metric("check_gnome_favorite_apps")
def check_gnome_favorite_apps(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``gsettings get org.gnome.shell favorite-apps`` (a Python-style list of ``.desktop`` names) lists
    exactly the apps of ``rules["expected"]``, in any order."""
    wanted = expected_of(rules)
    if result is None:
        return NO_RESULT
    try:
        apps = ast.literal_eval(result.strip())
    except (ValueError, SyntaxError):
        return Score(0.0, f"not a list of apps: {short(result)}")
    if not isinstance(apps, list | tuple):
        return Score(0.0, f"not a list of apps: {short(result)}")
    return verdict(len(apps) == len(wanted) and set(apps) == set(wanted), f"favourites {list(apps)}",
                   f"favourites {list(apps)}, not {wanted}")


@metric("check_moved_jpgs")
def check_moved_jpgs(result: dict[str, Any] | None, rules: Any, **options: Any) -> Score:
    """1 when the folder (a ``list_directory`` tree) holds exactly the files of ``rules["expected"]``."""
    wanted = expected_of(rules)
    if result is None:
        return NO_RESULT
    if "error" in result:
        return Score(0.0, f"the folder could not be read: {result['error']}")
    names = [child["name"] for child in result.get("children", [])]
    return verdict(len(names) == len(wanted) and set(names) == set(wanted), f"the folder holds {sorted(names)}",
                   f"the folder holds {sorted(names)}, not {sorted(wanted)}")
