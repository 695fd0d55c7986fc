"""Metrics on the desktop's state, with the rules of OSWorld's ``metrics/basic_os.py``, ``general.py`` and
``vlc.py``: files and folders present, the clipboard, the time zone, favourite apps, files moved into a folder, the
accessibility tree, what VLC plays and whether its window fills the screen.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from step_envs.checkers.metrics.scoring import expected_of, rules_of, similarity, verdict
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


A11Y_NAMESPACES = {
    prefix: f"https://accessibility.ubuntu.example.org/ns/{path}"
    for prefix, path in (("st", "state"), ("attr", "attributes"), ("cp", "component"), ("doc", "document"),
                         ("docattr", "document/attributes"), ("txt", "text"), ("val", "value"), ("act", "action"))
}
"""The namespaces of the accessibility tree's XML (OSWorld's, for Ubuntu)."""


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


_VLC_FILE_FIELDS = ("filename", "title", "uri", "location", "name")
_VLC_URL_FIELDS = ("url", "URI", "location", "title", "filename")


@metric("is_vlc_playing")
def is_vlc_playing(result: str | None, rules: Any, **options: Any) -> Score:
    """VLC's HTTP ``status.xml``: 1 when the state is ``playing`` and the first non-empty meta field among
    filename/title/uri/location/name ends with ``rules["file_name"]`` (``type: file_name``), or the first among
    url/URI/location/title/filename contains ``rules["url"]`` or equals its last path part (``type: url``)."""
    rules = rules_of(rules, "{'type': 'file_name' | 'url', 'file_name' | 'url': text}")
    kind = rules.get("type")
    if kind not in ("file_name", "url"):
        raise ValueError(f"rules['type'] is {kind!r}; use 'file_name' or 'url'")
    if result is None:
        return NO_RESULT
    tree = ElementTree.fromstring(Path(result).read_bytes())
    state = tree.findtext("state")
    if state != "playing":
        return Score(0.0, f"VLC is {state or 'in no state'}, not playing")
    fields = _VLC_FILE_FIELDS if kind == "file_name" else _VLC_URL_FIELDS
    info = next((text for name in fields
                 if (text := tree.findtext(f'information/category[@name="meta"]/info[@name="{name}"]'))), None)
    if info is None:
        return Score(0.0, "VLC's status names no file")
    if kind == "file_name":
        wanted = rules["file_name"]
        return verdict(info.endswith(wanted), f"playing {info}", f"playing {info}, not {wanted}")
    wanted = rules["url"]
    last = wanted.rstrip("/").rsplit("/", 1)[-1]
    return verdict(wanted in info or info == last, f"playing {info}", f"playing {info}, not {wanted}")


@metric("is_vlc_fullscreen")
def is_vlc_fullscreen(result: Any, expected: Any, **options: Any) -> Score:
    """1 when the two sizes (``{"width", "height"}``: the screen's and VLC's window's, getters ``vm_screen_size``
    and ``vm_window_size``) are equal; no window scores 0."""
    if result is None or expected is None:
        return Score(0.0, "no VLC window" if expected is None else "no screen size")
    sizes = [(size.get("width"), size.get("height")) for size in (result, expected)]
    return verdict(sizes[0] == sizes[1], f"{sizes[1][0]}x{sizes[1][1]} fills the screen",
                   f"window {sizes[1][0]}x{sizes[1][1]} is not the screen's {sizes[0][0]}x{sizes[0][1]}")
