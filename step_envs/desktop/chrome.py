"""OSWorld's Chrome setup steps: tabs opened and closed through Chromium's DevTools HTTP endpoint in the env.

The endpoint is port 9222 inside the env (the port OSWorld's tasks forward with socat): ``PUT /json/new?URL`` opens
a tab, ``/json/close/ID`` closes one. The requests run in the env (its ``python3``), so this works whatever the
provider, container or local.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from step_envs.checkers.browser import DEVTOOLS_PORT, same_url
from step_envs.server.client import ControllerClient

DEVTOOLS_WAIT_S = 60.0
"""How long a tab step waits for Chrome's DevTools endpoint to answer (OSWorld tries 15 times, 5 s apart)."""


class DevToolsError(RuntimeError):
    """Chrome's DevTools endpoint did not answer, or would not open a tab; the message says how to start it."""


def _devtools(client: ControllerClient, method: str, route: str) -> str | None:
    """One request to the DevTools endpoint, made by the env's python3; its reply's text (JSON, or a sentence for
    ``/json/close``), or None when the endpoint did not answer."""
    script = ("import json, urllib.request\n"
              f"request = urllib.request.Request('http://127.0.0.1:{DEVTOOLS_PORT}{route}', method={method!r})\n"
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
            raise DevToolsError(f"Chrome's DevTools endpoint on port {DEVTOOLS_PORT} did not answer for {wait_s:g} s; "
                            "a task launches it first (google-chrome --remote-debugging-port=1337, socat "
                            f"tcp-listen:{DEVTOOLS_PORT},fork tcp:localhost:1337)")
        time.sleep(0.5)
    return [target for target in json.loads(reply) if target.get("type") == "page"]


def chrome_open_tabs(client: ControllerClient, urls_to_open: list[str]) -> None:
    """Open each URL in a new tab, then close the tab Chrome started with (as OSWorld does after the first).
    A page that does not load (offline) still gets its tab."""
    before = _pages(client)
    for url in urls_to_open:
        if _devtools(client, "PUT", f"/json/new?{quote(url, safe=':/?&=%#@+,;~')}") is None:
            raise DevToolsError(f"Chrome's DevTools endpoint would not open a tab for {url}")
    if before and urls_to_open:
        _devtools(client, "GET", f"/json/close/{before[0]['id']}")


def chrome_close_tabs(client: ControllerClient, urls_to_close: list[str]) -> None:
    """Close, for each URL, the first tab showing it (URLs compared as OSWorld's ``compare_urls``: scheme, a
    lone ``www`` and the public suffix ignored)."""
    for url in urls_to_close:
        for page in _pages(client):
            if same_url(page.get("url"), url):
                _devtools(client, "GET", f"/json/close/{page['id']}")
                break
