"""OSWorld's Chrome setup steps: tabs opened and closed through Chromium's DevTools HTTP endpoint in the env, and
the browsing history.

The endpoint is port 9222 inside the env (the port OSWorld's tasks forward with socat): ``PUT /json/new?URL`` opens
a tab, ``/json/close/ID`` closes one. The requests run in the env (its ``python3``), so this works whatever the
provider, container or local. Browsing history (``update_browse_history``) is a new ``History`` database for
Chrome's profile (:data:`CHROME_HISTORY`), made here with Chrome's own tables and uploaded: where OSWorld downloads
an empty database and fills it, this needs no network. Where OSWorld adds a ``urls`` row per entry (so a page
visited three times has three rows), this keeps one row per page, with all its visits, as Chrome records them:
Chrome's history page deletes a page's visits through its one row, so with duplicates "delete these entries"
leaves the other rows' visits behind (and the page in the history) however often it is done.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from step_envs.checkers.metrics.browser import same_url
from step_envs.server import app_ports
from step_envs.server.app_ports import DEVTOOLS_PORT
from step_envs.server.client import ControllerClient

DEVTOOLS_WAIT_S = 60.0
"""How long a tab step waits for Chrome's DevTools endpoint to answer (OSWorld tries 15 times, 5 s apart)."""


class DevToolsError(RuntimeError):
    """Chrome's DevTools endpoint did not answer, or would not open a tab; the message says how to start it."""


def _devtools(client: ControllerClient, method: str, route: str) -> str | None:
    """One request to the DevTools endpoint, made by the env's python3; its reply's text (JSON, or a sentence for
    ``/json/close``), or None when the endpoint did not answer."""
    script = (f"import json, urllib.request\n{app_ports.DEVTOOLS_IN_SESSION}\n"
              f"request = urllib.request.Request(f'http://127.0.0.1:{{port}}{route}', method={method!r})\n"
              "print(urllib.request.urlopen(request, timeout=10).read().decode())")
    outcome = client.execute(["python3", "-c", script], timeout=30)
    if outcome.get("status") != "success" or outcome.get("returncode") != 0:
        return None
    return outcome["output"]


def _pages(client: ControllerClient) -> list[dict[str, Any]]:
    """Chrome's page targets, waiting up to :data:`DEVTOOLS_WAIT_S` for the endpoint; DevToolsError when it
    never answers."""
    wait_s = DEVTOOLS_WAIT_S
    deadline = time.monotonic() + wait_s
    while (reply := _devtools(client, "GET", "/json/list")) is None:
        if time.monotonic() > deadline:
            raise DevToolsError(f"Chrome's DevTools endpoint on port {DEVTOOLS_PORT} (a local session's own: "
                                f"${app_ports.DEVTOOLS_ENV}) did not answer for {wait_s:g} s; a task launches it "
                                "first (google-chrome --remote-debugging-port=1337, socat "
                                f"tcp-listen:{DEVTOOLS_PORT},fork tcp:localhost:1337)")
        time.sleep(0.5)
    return [target for target in json.loads(reply) if target.get("type") == "page"]


def chrome_open_tabs(client: ControllerClient, urls_to_open: list[str]) -> None:
    """Open each URL in a new tab, then close the tab Chrome started with (as OSWorld does after the first).
    A page that does not load (offline) still gets its tab. The start tab is found after the new ones are open
    (every page that is not one of them): Chrome's endpoint can answer before its first tab exists."""
    _pages(client)  # waits for the endpoint
    opened = set()
    for url in urls_to_open:
        reply = _devtools(client, "PUT", f"/json/new?{quote(url, safe='')}")
        if reply is None:
            raise DevToolsError(f"Chrome's DevTools endpoint would not open a tab for {url}")
        opened.add(json.loads(reply).get("id"))
    if urls_to_open:
        for page in _pages(client):
            if page.get("id") not in opened:
                _devtools(client, "GET", f"/json/close/{page['id']}")


def chrome_close_tabs(client: ControllerClient, urls_to_close: list[str]) -> None:
    """Close, for each URL, the first tab showing it (URLs compared as OSWorld's ``compare_urls``: scheme, a
    lone ``www`` and the public suffix ignored)."""
    for url in urls_to_close:
        for page in _pages(client):
            if same_url(page.get("url"), url):
                _devtools(client, "GET", f"/json/close/{page['id']}")
                break


CHROME_HISTORY = "~/.config/google-chrome/Default/History"
"""Where ``update_browse_history`` puts the database: Chrome's profile, which the ``google-chrome`` stand-in uses."""
CHROME_EPOCH_OFFSET_S = 11_644_473_600
"""Seconds from 1601-01-01 (Chrome's time origin) to the Unix epoch, both UTC."""
VISIT_TRANSITION = 805_306_368
"""A visit's ``transition`` as OSWorld records it: a typed link that starts and ends a redirect chain."""
_HISTORY_TABLES = (
    "CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR)",
    "CREATE TABLE urls(id INTEGER PRIMARY KEY AUTOINCREMENT,url LONGVARCHAR,title LONGVARCHAR,"
    "visit_count INTEGER DEFAULT 0 NOT NULL,typed_count INTEGER DEFAULT 0 NOT NULL,"
    "last_visit_time INTEGER NOT NULL,hidden INTEGER DEFAULT 0 NOT NULL)",
    "CREATE INDEX urls_url_index ON urls (url)",
    "CREATE TABLE visits(id INTEGER PRIMARY KEY AUTOINCREMENT,url INTEGER NOT NULL,visit_time INTEGER NOT NULL,"
    "from_visit INTEGER,external_referrer_url TEXT,transition INTEGER DEFAULT 0 NOT NULL,segment_id INTEGER,"
    "visit_duration INTEGER DEFAULT 0 NOT NULL,incremented_omnibox_typed_score BOOLEAN DEFAULT FALSE NOT NULL,"
    "opener_visit INTEGER,originator_cache_guid TEXT,originator_visit_id INTEGER,originator_from_visit INTEGER,"
    "originator_opener_visit INTEGER,is_known_to_sync BOOLEAN DEFAULT FALSE NOT NULL,"
    "consider_for_ntp_most_visited BOOLEAN DEFAULT FALSE NOT NULL,visited_link_id INTEGER DEFAULT 0 NOT NULL,"
    "app_id TEXT)",
    "CREATE INDEX visits_url_index ON visits (url)",
    "CREATE INDEX visits_time_index ON visits (visit_time)",
    "INSERT INTO meta VALUES ('version', '70'), ('last_compatible_version', '16')",
)
"""The tables of a History database that a visit needs, as Chromium 156 writes them (database version 70; Chrome
adds the tables it misses when it opens the file, and a newer Chrome migrates it)."""


def chrome_time(unix_seconds: float) -> int:
    """Chrome's timestamp: microseconds since 1601-01-01 UTC."""
    return int((unix_seconds + CHROME_EPOCH_OFFSET_S) * 1_000_000)


def history_database(history: list[dict[str, Any]], now: float | None = None) -> bytes:
    """The bytes of a Chrome ``History`` database holding one visit per entry of ``history``
    (``{"url", "title", "visit_time_from_now_in_seconds"}``: the visit was that long before ``now``, default the
    current time), as OSWorld's ``update_browse_history`` writes them, except that the entries of one URL share its
    ``urls`` row (``visit_count``: their number, ``last_visit_time``: the latest, the title of the first).
    ValueError names a malformed entry."""
    now = time.time() if now is None else now
    with tempfile.TemporaryDirectory(prefix="step-gym-history-") as folder:
        path = Path(folder) / "History"
        with sqlite3.connect(path) as db:
            for statement in _HISTORY_TABLES:
                db.execute(statement)
            url_ids: dict[str, int] = {}
            for index, entry in enumerate(history):
                if not (isinstance(entry, dict) and isinstance(entry.get("url"), str)
                        and isinstance(entry.get("visit_time_from_now_in_seconds"), int | float)):
                    raise ValueError(f"history entry {index} must be {{'url': str, 'title': str, "
                                     f"'visit_time_from_now_in_seconds': number}}, got {entry!r}")
                visited = chrome_time(now - entry["visit_time_from_now_in_seconds"])
                if entry["url"] not in url_ids:
                    row = db.execute("INSERT INTO urls (url, title, visit_count, typed_count, last_visit_time, "
                                     "hidden) VALUES (?, ?, 0, 0, ?, 0)",
                                     (entry["url"], str(entry.get("title", "")), visited))
                    url_ids[entry["url"]] = row.lastrowid
                url_id = url_ids[entry["url"]]
                db.execute("UPDATE urls SET visit_count = visit_count + 1, last_visit_time = MAX(last_visit_time, ?)"
                           " WHERE id = ?", (visited, url_id))
                db.execute("INSERT INTO visits (url, visit_time, from_visit, transition, segment_id, visit_duration)"
                           " VALUES (?, ?, 0, ?, 0, 0)", (url_id, visited, VISIT_TRANSITION))
        db.close()
        return path.read_bytes()


def update_browse_history(client: ControllerClient, history: list[dict[str, Any]]) -> None:
    """Replace Chrome's browsing history in the env with ``history`` (see :func:`history_database`)."""
    client.upload(CHROME_HISTORY, history_database(history))
