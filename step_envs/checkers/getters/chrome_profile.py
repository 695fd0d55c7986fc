"""Getters of Chrome's profile files in the env, read as OSWorld's Chrome getters read them: ``Preferences``
(settings, as JSON), ``Bookmarks``, the ``History`` and ``Cookies`` SQLite databases, and the shortcuts Chrome puts
on the desktop (the metrics that judge them are in :mod:`step_envs.checkers.metrics.browser`).

The profile is ``~/.config/google-chrome`` (Chrome's folder, which the ``google-chrome`` stand-in gives Chromium),
else Chromium's own ``~/.config/chromium``: the first that holds the file. Chrome writes ``Preferences`` some
seconds after a change and when it exits, which is why OSWorld's tasks end Chrome before these checks. Where
OSWorld's getter answers a made-up value when the file is missing (``"Google"``, ``"false"``), ours answers None:
the check scores 0 either way, with "missing" as the reason.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from step_envs.checkers.getters.access import env_home_file, save_to_cache
from step_envs.checkers.registry import CheckContext, getter

CHROME_PROFILES = ("~/.config/google-chrome", "~/.config/chromium")
"""Where Chrome keeps its profile in the env: Google Chrome's folder, then Chromium's."""
DEFAULT_FONT_SIZES = {"default_fixed_font_size": 13, "default_font_size": 16, "minimum_font_size": 13}
"""Chrome's font sizes when ``webkit.webprefs`` does not set them (Chrome writes only the changed ones)."""
CHROME_ENGINE_NAMES = {(3, "Microsoft Bing"): "Bing"}
"""``(prepopulate_id, short_name)`` of a built-in search engine as this Chromium names it, and the name OSWorld's
Chrome gave the same engine (the one its tasks expect): Chromium now calls Bing "Microsoft Bing". A name the user
typed for an engine is left as it is."""
STARTUP_NEW_TAB = 5
"""``session.restore_on_startup`` when Chrome opens the New Tab page at startup."""


def profile_file(ctx: CheckContext, name: str) -> bytes | None:
    """The bytes of ``Default/<name>`` in the first profile folder that has it; None when none has."""
    for profile in CHROME_PROFILES:
        data = env_home_file(ctx, f"{profile}/Default/{name}")
        if data:
            return data
    return None


def preferences(ctx: CheckContext) -> dict[str, Any] | None:
    """Chrome's ``Default/Preferences`` as a dict; None when there is none."""
    data = profile_file(ctx, "Preferences")
    return None if data is None else json.loads(data)


def _flag(value: bool) -> str:
    return "true" if value else "false"


@getter("bookmarks")
def bookmarks(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """The ``roots`` of Chrome's ``Default/Bookmarks``; ``[]`` when there is none, as OSWorld."""
    data = profile_file(ctx, "Bookmarks")
    return json.loads(data).get("roots", {}) if data else []


def _extensions(ctx: CheckContext) -> list[dict[str, Any]]:
    prefs = preferences(ctx) or {}
    settings = prefs.get("extensions", {}).get("settings", {})
    return [entry for entry in settings.values() if isinstance(entry, dict)]


@getter("find_unpacked_extension_path")
def find_unpacked_extension_path(ctx: CheckContext, config: dict[str, Any]) -> list[str]:
    """The folders of the extensions ``Preferences`` lists (``extensions.settings.*.path``)."""
    return [entry["path"] for entry in _extensions(ctx) if "path" in entry]


@getter("find_installed_extension_name")
def find_installed_extension_name(ctx: CheckContext, config: dict[str, Any]) -> list[str]:
    """The names of the extensions ``Preferences`` lists (``extensions.settings.*.manifest.name``), built-in ones
    (Chrome's PDF viewer...) included."""
    return [entry["manifest"]["name"] for entry in _extensions(ctx) if "name" in entry.get("manifest", {})]


@getter("enable_do_not_track")
def enable_do_not_track(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """``"true"`` when "Send a Do Not Track request" is on (``enable_do_not_track``), else ``"false"``."""
    prefs = preferences(ctx)
    return None if prefs is None else _flag(bool(prefs.get("enable_do_not_track")))


@getter("enable_safe_browsing")
def enable_safe_browsing(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """``"true"`` when ``Preferences`` turns Safe Browsing on, standard or enhanced (``safebrowsing.enabled`` or
    ``.enhanced``), else ``"false"``: a profile that never changed it says nothing, and reads ``"false"``."""
    prefs = preferences(ctx)
    if prefs is None:
        return None
    safe = prefs.get("safebrowsing", {})
    return _flag(bool(safe.get("enabled")) or bool(safe.get("enhanced")))


@getter("new_startup_page")
def new_startup_page(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """``"true"`` when Chrome starts on the New Tab page: ``Preferences`` has no ``session`` (a fresh profile) or
    its ``restore_on_startup`` is 5."""
    prefs = preferences(ctx)
    if prefs is None:
        return None
    return _flag("session" not in prefs or prefs["session"].get("restore_on_startup") == STARTUP_NEW_TAB)


@getter("profile_name")
def profile_name(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The profile's name (``profile.name``); None when unset."""
    return (preferences(ctx) or {}).get("profile", {}).get("name")


@getter("data_delete_automacally")
def data_delete_automatically(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """``"true"`` when ``profile.default_content_setting_values`` exists (Chrome writes it when a site-data default
    such as "delete data sites have saved when you close all windows" changes), else ``"false"``; OSWorld's rule
    and spelling."""
    prefs = preferences(ctx)
    return None if prefs is None else _flag(prefs.get("profile", {}).get("default_content_setting_values") is not None)


@getter("chrome_font_size")
def chrome_font_size(ctx: CheckContext, config: dict[str, Any]) -> dict[str, int] | None:
    """Chrome's font sizes (``webkit.webprefs``) over :data:`DEFAULT_FONT_SIZES` (OSWorld gives the defaults only
    when ``webprefs`` is absent)."""
    prefs = preferences(ctx)
    return None if prefs is None else {**DEFAULT_FONT_SIZES, **prefs.get("webkit", {}).get("webprefs", {})}


@getter("default_search_engine")
def default_search_engine(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The default search engine's name (``default_search_provider_data.template_url_data.short_name``);
    ``"Google"`` when the profile never changed it. A built-in engine this Chromium names otherwise than OSWorld's
    Chrome did has Chrome's name (:data:`CHROME_ENGINE_NAMES`: Chromium's "Microsoft Bing" is "Bing")."""
    prefs = preferences(ctx)
    if prefs is None:
        return None
    engine = prefs.get("default_search_provider_data", {}).get("template_url_data", {})
    name = engine.get("short_name", "Google")
    return CHROME_ENGINE_NAMES.get((engine.get("prepopulate_id"), name), name)


def _rows(ctx: CheckContext, config: dict[str, Any], name: str, query: str) -> list[list[Any]] | None:
    """The rows of ``query`` on the profile's SQLite database ``name``, fetched into ``cache_dir/dest``."""
    local = save_to_cache(ctx, config, profile_file(ctx, name))
    if local is None:
        return None
    with sqlite3.connect(f"{Path(local).as_uri()}?mode=ro", uri=True) as db:
        rows = [list(row) for row in db.execute(query)]
    db.close()
    return rows


@getter("history")
def history(ctx: CheckContext, config: dict[str, Any]) -> list[list[Any]] | None:
    """``[url, title, last_visit_time]`` of every page in Chrome's ``History`` database (saved as ``dest``)."""
    return _rows(ctx, config, "History", "SELECT url, title, last_visit_time FROM urls")


@getter("cookie_data")
def cookie_data(ctx: CheckContext, config: dict[str, Any]) -> list[list[Any]] | None:
    """Every row of Chrome's ``Cookies`` database (saved as ``dest``), its columns in Chrome's order (the second
    is ``host_key``, the cookie's domain)."""
    return _rows(ctx, config, "Cookies", "SELECT * FROM cookies")


@getter("shortcuts_on_desktop")
def shortcuts_on_desktop(ctx: CheckContext, config: dict[str, Any]) -> dict[str, str]:
    """``{file name: text}`` of the ``.desktop`` files in ``~/Desktop`` (where Chrome's "Create shortcut" puts
    them on Linux)."""
    tree = ctx.client.list_directory("~/Desktop") or {}
    names = [child["name"] for child in tree.get("children", []) if child.get("name", "").endswith(".desktop")]
    shortcuts = {}
    for name in names:
        data = env_home_file(ctx, f"~/Desktop/{name}")
        if data is not None:
            shortcuts[name] = data.decode("utf-8", errors="replace")
    return shortcuts
