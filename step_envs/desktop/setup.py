"""Runs a task's setup (and postconfig) steps against a controller, with readiness checks, not sleeps.

Step format is OSWorld's: ``{"type": "launch", "parameters": {...}}``. Our extension: any step may carry
``"ready": {"window": REGEX, "idle": SECONDS, "file": PATH, "gone": REGEX, "quiet": SECONDS, "timeout": SECONDS}``
(``idle``: the app that owns the window, or the step's new windows, has stopped working, and the screen has not
changed, for that long, :mod:`step_envs.server.activity`; ``quiet``: the screen has not changed for that long);
``launch`` and ``open`` without one wait for a new window to appear. A splash screen (EWMH window type ``splash``:
GIMP's, LibreOffice's) is not the app's window: these waits go on past it to the window that follows, for up to
:data:`SPLASH_TIMEOUT_S` once a splash has shown that the app is starting. ``upload_file`` takes files shipped with the
task (paths relative to the task file, or ``file://``); so does ``download``, which also fetches ``http(s)://`` URLs
into a host cache (OSWorld's remote task files; see :func:`step_envs.server.fetch.cached_download`).
``chrome_open_tabs`` / ``chrome_close_tabs`` drive Chrome through its DevTools endpoint
(:mod:`step_envs.desktop.chrome`); ``activate_window`` / ``close_window`` also find a stand-in's window under the
name of the app it stands in for (``"Google Chrome"``: Chromium's, :data:`WINDOW_ALIASES`);
``update_browse_history`` writes Chrome's History database; ``proxy`` is accepted and does nothing: the env's
traffic goes direct. The step types and their load-time check are :mod:`step_envs.tasks.steps`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from step_envs.checkers.getters.access import path_in_cache
from step_envs.desktop.chrome import chrome_close_tabs, chrome_open_tabs, update_browse_history
from step_envs.providers.base import SESSION_PASSWORD
from step_envs.server.client import ControllerClient
from step_envs.server.fetch import cached_download
from step_envs.tasks.steps import WEB_SCHEMES, local_source

DEFAULT_READY_TIMEOUT_S = 30.0
SPLASH_TIMEOUT_S = 120.0
"""How long a ``launch``/``open`` that has shown a splash screen waits in all for the app's window: GIMP's first
start on a loaded machine shows its splash for half a minute and more."""
SPLASH_IDLE_S = 0.5
"""How long an app that showed a splash must have been idle, after its window came, for its launch to be ready."""


WINDOW_ALIASES = {"Google Chrome": ("Chromium",), "Visual Studio Code": ("VSCodium", "Code - OSS")}
"""App names in the window titles OSWorld's ``activate_window`` / ``close_window`` steps look for, and the names the
windows of the apps standing in for them here have: Chromium (Chrome's stand-in) titles its windows "... -
Chromium" where Chrome's read "... - Google Chrome"; VS Code's open-source builds title theirs "... - VSCodium" or
"... - Code - OSS"."""


def window_names(window_name: str, by_class: bool = False) -> list[str]:
    """``window_name``, then (for a title, not a WM_CLASS) the same name with each of :data:`WINDOW_ALIASES`' app
    names in it replaced by its stand-ins' names: ``"Google Chrome"`` is also ``"Chromium"``."""
    names = [window_name]
    if not by_class:
        for theirs, ours in WINDOW_ALIASES.items():
            if theirs in window_name:
                names += [window_name.replace(theirs, alias) for alias in ours]
    return names


class SetupError(RuntimeError):
    """A setup step could not do its job (the task cannot start as specified)."""


class SetupRunner:
    """Runs a task's setup steps (OSWorld's ``config`` list: ``execute``, ``launch``, ``open``, ``download``, ...)
    through the controller, each followed by its readiness check; a step that fails raises :class:`SetupError`
    naming its index and type. ``base_dir``: where the task's relative file paths resolve.
    """

    def __init__(self, client: ControllerClient, base_dir: Path | None = None, cache_dir: Path | None = None) -> None:
        self.client = client
        self.base_dir = base_dir
        self.cache_dir = cache_dir
        """Where ``execute``'s ``stdout`` / ``stderr`` captures go (the checker's cache folder, for a postconfig)."""
        self._launched: tuple[list[str] | str, int | None] = ([], None)

    def run(self, steps: list[dict[str, Any]]) -> None:
        for index, step in enumerate(steps):
            kind = step["type"]
            params = step.get("parameters", {})
            try:
                before = {w["id"] for w in self.client.windows()} if kind in ("launch", "open") else set()
                self._launched = ([], None)
                getattr(self, f"_{'execute' if kind == 'command' else kind}")(**params)
                self._wait_ready(kind, step.get("ready"), before, params)
            except SetupError as exc:
                raise SetupError(f"setup step {index} ({kind}): {exc}") from exc
            except (TypeError, KeyError, ValueError, RuntimeError) as exc:
                raise SetupError(f"setup step {index} ({kind}) with {params}: {exc}") from exc

    # --- readiness ---------------------------------------------------------------------------------

    def _poll(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise SetupError(f"{what} not ready after {timeout:g} s")
            time.sleep(0.05)

    def _window_matches(self, pattern: str) -> bool:
        """Whether a window other than a splash screen has a title or WM_CLASS that ``pattern`` finds."""
        regex = re.compile(pattern, re.IGNORECASE)
        return any(regex.search(w["title"]) or regex.search(w["wm_class"]) for w in self.client.windows()
                   if w.get("type") != "splash")

    def _wait_new_window(self, before: set[str], timeout: float, what: str) -> None:
        """Until a window not in ``before`` that is not a splash screen is open: GIMP and LibreOffice map a splash
        seconds before their main window and take no input meanwhile. Once only a splash has opened the app is
        evidently starting, and the wait goes on for up to :data:`SPLASH_TIMEOUT_S` in all; and when its window
        comes, until the app has also gone idle for :data:`SPLASH_IDLE_S` (GIMP fills its docks a second or more
        after mapping its window), or that deadline has passed: the window is there, a busy app is no failure."""
        start = time.monotonic()
        deadline, splashed = start + timeout, False
        while True:
            self._launch_alive()
            new = [w for w in self.client.windows() if w["id"] not in before]
            apps = [w["id"] for w in new if w.get("type") != "splash"]
            if apps:
                if splashed:
                    self.client.wait_idle(apps, SPLASH_IDLE_S, max(1.0, deadline - time.monotonic()))
                return
            if new:
                deadline, splashed = max(deadline, start + SPLASH_TIMEOUT_S), True
            if time.monotonic() > deadline:
                shown = "only a splash screen" if new else "no window"
                raise SetupError(f"{what}: {shown} after {time.monotonic() - start:.0f} s")
            time.sleep(0.05)

    def _wait_ready(self, kind: str, ready: dict[str, Any] | None, before: set[str], params: dict[str, Any]) -> None:
        timeout = float((ready or {}).get("timeout", DEFAULT_READY_TIMEOUT_S))
        if ready is None:
            if kind in ("launch", "open"):
                self._wait_new_window(before, timeout, f"a new window after {kind} {params}")
            return
        if "window" in ready:
            self._poll(lambda: self._launch_alive() and self._window_matches(ready["window"]), timeout,
                       f"window /{ready['window']}/")
        if "idle" in ready:
            self._wait_idle(float(ready["idle"]), ready.get("window"), before, timeout)
        if "gone" in ready:
            self._poll(lambda: not self._window_matches(ready["gone"]), timeout, f"closing /{ready['gone']}/")
        if "quiet" in ready:
            self._wait_quiet(float(ready["quiet"]), timeout)
        if "file" in ready:
            self._poll(lambda: self.client.execute(["test", "-e", ready["file"]])["returncode"] == 0, timeout,
                       f"file {ready['file']}")

    def _wait_idle(self, seconds: float, pattern: str | None, before: set[str], timeout: float) -> None:
        """Until the apps owning the windows that match ``pattern`` (without one: the windows the step opened) and
        the screen have been idle for ``seconds``."""
        regex = re.compile(pattern, re.IGNORECASE) if pattern else None
        ids = [w["id"] for w in self.client.windows()
               if (regex.search(w["title"]) or regex.search(w["wm_class"]) if regex else w["id"] not in before)]
        result = self.client.wait_idle(ids, seconds, timeout)
        if not result["idle"]:
            raise SetupError(f"the app was still busy after {timeout:g} s ({result['busy']})")

    def _wait_quiet(self, seconds: float, timeout: float) -> None:
        """Until the screen has not changed for ``seconds``: apps like LibreOffice show their window well
        before they take input, and finish initialising (toolbars, document) in a burst of repaints."""
        deadline = time.monotonic() + timeout
        previous, still_since = self.client.screenshot(), time.monotonic()
        while time.monotonic() - still_since < seconds:
            if time.monotonic() > deadline:
                raise SetupError(f"the screen kept changing for {timeout:g} s")
            time.sleep(0.1)
            frame = self.client.screenshot()
            if not (frame == previous).all():
                previous, still_since = frame, time.monotonic()

    # --- steps -------------------------------------------------------------------------------------

    def _launch(self, command: list[str] | str, shell: bool = False) -> None:
        self._launched = (command, self.client.launch(command, shell))

    def _launch_alive(self) -> bool:
        """False never: raises :class:`SetupError` once the program the last ``launch`` started has exited with an
        error (not installed, bad arguments), with what it wrote to stderr, instead of waiting out the window
        timeout. A program that exits 0 (a launcher handing over to a running app) is waited for as before."""
        command, pid = self._launched
        if pid is None:
            return True
        status = self.client.launched(pid)
        if status["returncode"] not in (None, 0):
            shown = command if isinstance(command, str) else " ".join(map(str, command))
            detail = status["stderr"].strip() or "no output"
            raise SetupError(f"{shown!r} exited with status {status['returncode']} before opening a window: "
                             f"{detail}")
        return True

    def _open(self, path: str) -> None:
        self.client.open_file(path)

    def _execute(self, command: list[str] | str, shell: bool = False, stdout: str = "", stderr: str = "",
                 until: dict[str, Any] | None = None, timeout: float = 120) -> None:
        """OSWorld's execute; ``until`` (``returncode`` / ``stdout`` / ``stderr`` to match) re-runs the command
        until it holds. ``stdout``/``stderr`` name OSWorld's host-side capture files: the command's output and
        errors are written there, under ``cache_dir`` (where a postconfig's ``cache_file`` getters read them, as in
        OSWorld; an old capture is removed first, so a command that cannot run leaves none); without a
        ``cache_dir`` (a task's setup) nothing reads them.
        OSWorld's placeholders become their values: ``{CLIENT_PASSWORD}`` (the session user's password, for
        ``sudo -S``), ``{SCREEN_WIDTH}``, ``{SCREEN_HEIGHT}``, ``{SCREEN_WIDTH_HALF}``, ``{SCREEN_HEIGHT_HALF}``."""
        command = self._placeholders(command)

        def run() -> dict[str, Any]:
            result = self.client.execute(command, shell, timeout)
            if result.get("status") != "success":
                raise SetupError(f"command {command!r} could not run: {result.get('message') or result}")
            return result

        captures = {out: self._capture_path(name) for out, name in (("output", stdout), ("error", stderr))
                    if name and self.cache_dir is not None}
        for path in captures.values():
            path.unlink(missing_ok=True)
        result = run()
        if until:
            def holds() -> bool:
                nonlocal result
                if ("returncode" not in until or result["returncode"] == until["returncode"]) and all(
                        until[key] in result[out] for key, out in (("stdout", "output"), ("stderr", "error"))
                        if key in until):
                    return True
                result = run()
                return False

            self._poll(holds, DEFAULT_READY_TIMEOUT_S, f"command {command!r} until {until}")
        for out, path in captures.items():
            path.write_text(result.get(out) or "")

    def _capture_path(self, name: str) -> Path:
        """``cache_dir/name`` for an ``execute``'s capture file, refusing a name that climbs out of it."""
        assert self.cache_dir is not None
        try:
            return path_in_cache(self.cache_dir, name, "capture file")
        except ValueError as exc:
            raise SetupError(str(exc)) from exc

    def _placeholders(self, command: list[str] | str) -> list[str] | str:
        width, height = self.client.endpoint.width, self.client.endpoint.height
        values = {"{CLIENT_PASSWORD}": SESSION_PASSWORD, "{SCREEN_WIDTH}": str(width),
                  "{SCREEN_HEIGHT}": str(height), "{SCREEN_WIDTH_HALF}": str(width // 2),
                  "{SCREEN_HEIGHT_HALF}": str(height // 2)}

        def fill(text: str) -> str:
            for name, value in values.items():
                text = text.replace(name, value)
            return text

        return fill(command) if isinstance(command, str) else [fill(str(word)) for word in command]

    def _sleep(self, seconds: float) -> None:
        time.sleep(float(seconds))

    def _window_action(self, action: str, window_name: str, strict: bool, by_class: bool) -> bool:
        """OSWorld's window step on the first of :func:`window_names` that names a window."""
        return any(self.client.window_action(action, name, strict, by_class)
                   for name in window_names(window_name, by_class))

    def _activate_window(self, window_name: str, strict: bool = False, by_class: bool = False) -> None:
        self._poll(lambda: self._window_action("activate", window_name, strict, by_class),
                   DEFAULT_READY_TIMEOUT_S, f"window {window_name!r} to activate")

    def _close_window(self, window_name: str, strict: bool = False, by_class: bool = False) -> None:
        if not self._window_action("close", window_name, strict, by_class):
            raise SetupError(f"no window {window_name!r} to close")

    def _upload_file(self, files: list[dict[str, str]]) -> None:
        for item in files:
            source = local_source(item["local_path"], self.base_dir)
            self.client.upload(item["path"], source.read_bytes())

    def _download(self, files: list[dict[str, str]]) -> None:
        for item in files:
            if urlparse(item["url"]).scheme in WEB_SCHEMES:
                self.client.upload(item["path"], cached_download(item["url"], item["path"]).read_bytes())
                continue
            source = local_source(item["url"], self.base_dir)
            if not source.is_file():
                raise SetupError(f"{item['url']} does not exist (looked at {source})")
            self.client.upload(item["path"], source.read_bytes())

    def _chrome_open_tabs(self, urls_to_open: list[str]) -> None:
        chrome_open_tabs(self.client, urls_to_open)

    def _chrome_close_tabs(self, urls_to_close: list[str]) -> None:
        chrome_close_tabs(self.client, urls_to_close)

    def _update_browse_history(self, history: list[dict[str, Any]]) -> None:
        update_browse_history(self.client, history)

    def _proxy(self, **parameters: Any) -> None:
        """OSWorld's proxy: nothing to set up here, the env's traffic goes direct (the OSWorld loader says so in
        the task's ``params``)."""
