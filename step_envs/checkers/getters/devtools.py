"""Drive a tab of the env's Chrome through its DevTools protocol, for getters that read live pages.

The client (:mod:`step_envs.checkers.getters.devtools_page`, standard library only) runs inside the env, by the env's
``python3``, and talks to Chrome's DevTools endpoint there: port 9222 (the port OSWorld's tasks forward with
socat), or a local session's own (``$STEP_DEVTOOLS_PORT``, :mod:`step_envs.server.app_ports`), so this works
whatever the provider, container or local, as the tab setup steps do (:mod:`step_envs.desktop.chrome`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from step_envs.checkers.registry import CheckContext

PAGE_TIMEOUT_S = 60.0
"""How long one request to a tab may take (OSWorld's Playwright getters wait 60 s for a page)."""
_CLIENT = Path(__file__).with_name("devtools_page.py")


class TabMissing(LookupError):
    """Chrome is reachable but has no tab to read (none open, or none shows the URL asked for)."""


def run_in_tab(ctx: CheckContext, tab: dict[str, str], steps: list[list[Any]],
               timeout: float = PAGE_TIMEOUT_S) -> list[Any] | None:
    """The results of ``steps`` (``load``, ``eval``, ``text``, ``pdf``, ``sleep``; see
    :mod:`step_envs.checkers.getters.devtools_page`) run in a tab of the env's Chrome: ``{"url": URL}`` the open tab
    showing it, ``{"open": URL}`` a new tab (closed after), ``{}`` the most recently active one.

    None when Chrome's DevTools endpoint does not answer; :class:`TabMissing` when there is no such tab; a
    RuntimeError with the page's error (a JavaScript exception, a closed socket) otherwise."""
    request = {"tab": tab, "steps": steps, "timeout": timeout}  # the port: the session's
    budget = ctx.time_left(timeout + 10)
    outcome = ctx.client.execute(["python3", "-c", _CLIENT.read_text(), json.dumps(request)], timeout=budget)
    lines = (outcome.get("output") or "").strip().splitlines()
    if outcome.get("status") != "success" or not lines:
        raise RuntimeError(f"the DevTools client could not run in the env: {outcome.get('error') or outcome}")
    answer = json.loads(lines[-1])
    if "missing" in answer:
        raise TabMissing(answer["missing"])
    if "error" in answer:
        if answer["error"].startswith(("ConnectionRefusedError", "URLError")):
            return None
        raise RuntimeError(f"DevTools: {answer['error']}")
    return answer["results"]
