"""Loading OSWorld's own task files (``evaluation_examples/examples/<domain>/<id>.json``) as they are.

Every file loads: a task that can run here becomes a :class:`~step_envs.tasks.model.Task`; one that cannot (it logs
into Google Drive or a site, or names a getter, metric or option not implemented here) comes back with the list of
reasons instead of failing mid-episode. A task that needs the internet (it downloads its files, opens web pages,
compares against live sites, installs packages) runs, and says so in ``network``: offline, its downloads fail as an
``env_error`` naming the URL. A task that needs what only a container gives (OSWorld's ``/home/user`` inside its
code, ``sudo``) runs with ``provider="docker"`` and says so in ``docker`` (``task.params["home"]`` /
``task.params["sudo"]``); the local provider refuses it at reset with an ``env_error``. Translations that make
OSWorld's files fit:

- OSWorld's home folder ``/home/user`` becomes the env's home (``~`` at the start of a path, ``$HOME`` in shell
  code: a ``shell`` command or the code of ``bash -c``); elsewhere (Python code, a ``file://`` URL to compare) it
  stays, for the container, whose home is ``/home/user``;
- OSWorld's runtime folder ``/run/user/1000`` in shell code (``export DBUS_SESSION_BUS_ADDRESS=
  'unix:path=/run/user/1000/bus'`` before ``gsettings``) becomes ``$XDG_RUNTIME_DIR``, the session's, where its
  D-Bus listens;
- with ``file_cache``, a local mirror of OSWorld's remote files, a download URL whose last path parts (e.g.
  ``<domain>/<task id>/<file>``) name a file in the mirror is read from there instead of the network; a URL that
  names none (Google Drive's ``/uc?id=...``) is read from ``<domain>/<task id>/<name of the file it downloads to>``
  when the mirror has that (:mod:`step_envs.osworld.made_files` writes such a mirror);
- ``launch`` of ``socat`` (which forwards Chrome's DevTools port) waits for no window;
- ``launch`` of ``pkill chrome``, or ``execute`` of it (how OSWorld makes Chrome write its files before a check),
  ends Chromium, which stands in for Chrome, and waits until it has exited;
- ``launch`` of another ``pkill NAME`` or ``killall NAME`` (``pkill vlc``: how OSWorld makes VLC let go before a
  check relaunches it) opens no window: it ends the session's processes of that name and waits until they have
  exited (:func:`end_program`); so does ``execute`` of it, also as ``bash -c`` code, and ``killall
  gnome-terminal-server`` (how OSWorld makes the terminals' shells write their history) ends xfce4-terminal;
- ``launch`` of Chrome (``google-chrome``) waits, beyond its window, until the browser has drawn its page and
  gone idle (:data:`CHROME_READY`): its window is mapped blank a while before that;
- ``launch`` of VS Code (``code``, with or without a path) waits, beyond its window, until the workbench has loaded
  and gone idle (:data:`CODE_READY`): code-server's window (step_envs/data/desktop/bin/code) shows the workbench's
  parts one by one for a few seconds;
- ctrl+alt+t in a setup's Python script (``python -c``) also waits until the new terminal is active and its shell
  ready (:data:`OPEN_TERMINAL`): the scripts type into it after half a second, and a first xfce4-terminal on a
  loaded machine takes longer than GNOME's always-running terminal server;
- a task whose checker reads the accessibility tree (:data:`A11Y_GETTERS`) names them in ``task.params["a11y"]``;
- OSWorld's ``proxy`` (the task's flag or a ``proxy`` step) is dropped: the env's traffic goes direct, and
  ``task.params["proxy"]`` says so.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from step_envs.checkers import GETTERS, METRICS
from step_envs.checkers.registry import INFEASIBLE, option_problems
from step_envs.tasks.model import Task, TaskError
from step_envs.tasks.steps import STEP_TYPES

OSWORLD_HOME = "/home/user"
OSWORLD_RUNTIME_DIR = "/run/user/1000"
"""The runtime folder of OSWorld's user (uid 1000), where its session D-Bus listens (``/run/user/1000/bus``)."""
SHELL_PATHS = {OSWORLD_HOME: "HOME", OSWORLD_RUNTIME_DIR: "XDG_RUNTIME_DIR"}
"""OSWorld's paths that shell code names, and the env's variables that hold the session's own."""
ACCOUNT_STEPS = ("googledrive", "login")
"""OSWorld setup steps that log into web services with OSWorld's own credentials."""
DATA_URL_STEPS = ("update_browse_history",)
"""Setup steps whose URLs are data written into a file (Chrome's history), not fetched."""
WINDOWLESS_COMMANDS = ("socat",)
"""Commands OSWorld's setups ``launch`` that open no window (the launch waits for none)."""
CHROME_COMMANDS = ("google-chrome", "google-chrome-stable", "chromium", "chromium-browser")
"""Commands that start Chrome (Chromium standing in)."""
CHROME_READY = {"window": "Chromium", "idle": 1.0, "timeout": 60}
"""A Chrome ``launch``'s readiness: a Chromium window, then the browser's processes idle and the screen still for
a second (Chromium maps its window blank and paints the page a moment later, longer on a loaded machine)."""
CODE_COMMANDS = ("code",)
"""Commands that start VS Code (code-server in a Chromium app window, step_envs/data/desktop/bin/code)."""
CODE_READY = {"window": "Visual Studio Code", "idle": 1.0, "timeout": 60}
"""A VS Code ``launch``'s readiness: a window titled "... Visual Studio Code", then its processes idle and the screen
still for a second (the title comes with the page, before the workbench has drawn its editor, panels and status
bar; without the wait a reset's first screenshot can catch half of them)."""
END_CHROMIUM = ("pkill -o -x -u \"$(id -u)\" chromium; for _ in $(seq 100); do "
                "ps -u \"$(id -u)\" -o stat=,comm= | grep -q '^[^Z]* chromium$' || exit 0; sleep 0.1; done; exit 1")
"""What ``launch ["pkill", "chrome"]`` becomes: SIGTERM to Chromium's browser process (Chrome's stand-in, whose
processes are not named ``chrome``; the oldest one, so it shuts its helpers down itself), then a wait of up to 10 s
until no process of it is left (zombies aside): it has written its profile files, and a relaunch starts a new
browser."""
KILL_COMMANDS = ("pkill", "killall")
KILL_STAND_INS = {"gnome-terminal-server": "xfce4-terminal"}
"""Programs OSWorld's kill commands name, and the process that stands in for them here: GNOME Terminal's server,
whose end closes every terminal (and so makes their shells write ``~/.bash_history``), is xfce4-terminal."""
"""Commands whose ``launch`` (``["pkill", "vlc"]``) ends a program: they open no window (:func:`end_program`)."""


def end_program(command: Any) -> str | None:
    """What ``launch`` of ``pkill NAME`` / ``killall NAME`` (also as ``bash -c`` code; a name of
    :data:`KILL_STAND_INS` as its stand-in's) becomes (None for any other command, or one with options): SIGTERM to the session user's processes whose name matches ``NAME`` (a pattern for ``pkill``, the
    exact name for ``killall``), then a wait of up to 10 s until none of them is left (zombies aside), so that a
    following ``launch`` starts the program afresh rather than waiting 30 s for a window no kill opens."""
    words = _words(command)
    if len(words) == 3 and _program(words) in SHELLS and words[1] == "-c":  # ["/bin/bash", "-c", "killall NAME"]
        words = _words(words[2])
    if len(words) != 2 or _program(words) not in KILL_COMMANDS or words[1].startswith("-"):
        return None
    exact = _program(words) == "killall"  # killall matches the name as the kernel keeps it, 15 characters
    target = KILL_STAND_INS.get(words[1], words[1])
    name = shlex.quote(target[:15] if exact else target)
    return (f"pkill {'-x ' if exact else ''}-u \"$(id -u)\" -- {name}; for _ in $(seq 100); do "
            f"ps -u \"$(id -u)\" -o stat=,comm= | awk '$1 !~ /^Z/ {{print $2}}' | grep -q{'xF' if exact else 'E'} -- "
            f"{name} || exit 0; sleep 0.1; done; exit 1")


A11Y_GETTERS = ("vm_terminal_output", "accessibility_tree")
"""Getters that read the session's accessibility tree (the terminal's text is read from it, as OSWorld reads
gnome-terminal's): a task that uses one says so in ``task.params["a11y"]``, and the env starts its session with
AT-SPI on."""
TERMINAL_KEYS = re.compile(r"""pyautogui\.hotkey\(\s*(['"])ctrl\1\s*,\s*(['"])alt\2\s*,\s*(['"])t\3\s*\)""")
"""OSWorld's scripts open a terminal with ctrl+alt+t and sleep half a second before typing into it."""
OPEN_TERMINAL = "__import__('step_envs.server.windows', fromlist=['open_terminal']).open_terminal()"
"""What their ctrl+alt+t becomes: the keys, then a wait until the new terminal is active and its shell ready
(:func:`step_envs.server.windows.open_terminal`)."""
PYTHONS = ("python", "python3")
PROXY_NOTE = "OSWorld's proxy is not used: the env's traffic goes direct"
_URL = re.compile(r"\b(?:https?|ftp)://[^\s'\"]+")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
SHELLS = ("sh", "bash", "dash")
"""Shells whose ``-c`` argument is shell code (``["bash", "-c", CODE]``), where ``$HOME`` expands."""
_INSTALLS = re.compile(r"\b(?:apt-get|apt|pip3?)\s+install\b")


@dataclass(frozen=True)
class Reason:
    """Why a task cannot run here (or, for ``kind`` network, what it needs the internet for; for ``kind`` docker,
    what only a container gives it): ``kind`` (account, network, docker, setup, getter, metric, option, format),
    ``name`` (the step type, getter, metric, ``/home/user`` or ``sudo``) and the specifics."""

    kind: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.detail}"


@dataclass
class OSWorldTask:
    """One OSWorld task file: ``task`` when it runs here (then ``unsupported`` is empty), else None and why not."""

    path: Path
    domain: str
    id: str
    instruction: str
    data: dict[str, Any] = field(repr=False)
    """The file's JSON as written."""
    task: Task | None
    unsupported: list[Reason] = field(default_factory=list)
    network: list[Reason] = field(default_factory=list)
    """What the task reaches the internet for (downloads, web pages, live sites); empty when it runs offline."""
    docker: list[Reason] = field(default_factory=list)
    """What only a container gives the task (OSWorld's ``/home/user`` inside its code, ``sudo``): it runs with
    ``provider="docker"``; empty when the local provider runs it too."""

    @property
    def supported(self) -> bool:
        return self.task is not None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _remote_urls(value: Any) -> list[str]:
    return [url for text in _strings(value) for url in _URL.findall(text)
            if urlparse(url).hostname not in _LOCAL_HOSTS]


def _words(command: Any) -> list[str]:
    """A command's words: a list as given, a string split on spaces."""
    return command.split() if isinstance(command, str) else [str(w) for w in command] if isinstance(
        command, list) else []


def _shell_rehome(code: str) -> str:
    """Shell ``code`` with each ``/home/user`` as ``$HOME`` and each ``/run/user/1000`` as ``$XDG_RUNTIME_DIR``
    (:data:`SHELL_PATHS`); inside single quotes, where the shell expands nothing, as ``'"$HOME"'`` (the quote closed
    around it)."""
    parts, quote, start, index = [], "", 0, 0
    while index < len(code):
        path = next((path for path in SHELL_PATHS if code.startswith(path, index)), None)
        end = index + len(path or "")
        if path is not None and (end == len(code) or not (code[end].isalnum() or code[end] in "_.-")):
            variable = f"${SHELL_PATHS[path]}"
            parts += [code[start:index], f"'\"{variable}\"'" if quote == "'" else variable]
            index = start = end
            continue
        char = code[index]
        if char == "\\" and quote != "'":
            index += 2
            continue
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        index += 1
    return "".join([*parts, code[start:]])


def _program(command: Any) -> str:
    """The program a ``launch`` command runs (its first word's file name); "" when there is none."""
    words = _words(command)
    return Path(words[0]).name if words else ""


class _Translation:
    """Rewrites one task's data for this env and collects the reasons it cannot run."""

    def __init__(self, file_cache: Path | None, task: tuple[str, str] = ("", "")) -> None:
        self.file_cache = file_cache
        self.task = task
        """The task's (domain, id): where in the mirror its downloads are, by the name they are saved as."""
        self.reasons: list[Reason] = []
        self.network: list[Reason] = []
        self.docker: list[Reason] = []
        self.a11y: list[str] = []

    def note(self, kind: str, name: str, detail: str) -> None:
        reason = Reason(kind, name, detail)
        found = {"network": self.network, "docker": self.docker}.get(kind, self.reasons)
        if reason not in found:
            found.append(reason)

    def needs(self, where: str, value: Any) -> None:
        """Notes what ``value`` (a step's parameters, a getter's command) needs: sudo (a container whose user may
        use it) or packages from the internet."""
        texts = list(_strings(value))
        if any(re.search(r"\bsudo\b", text) for text in texts):
            self.note("docker", "sudo", f"{where} runs sudo, which only a container started with sudo=True allows")
        installs = [match.group(0) for text in texts for match in _INSTALLS.finditer(text)]
        if installs:
            self.note("network", "install", f"{where} installs packages from the internet ({installs[0]})")

    def cached(self, url: str, saved_as: Any = None) -> str | None:
        """``file://`` URL of the mirrored copy of ``url``, matching its last 3, 2 or 1 path parts, else (for a
        download saved as ``saved_as``) ``<domain>/<task id>/<its file name>``; else None."""
        if self.file_cache is None or not _URL.fullmatch(url):
            return None
        parts = [part for part in unquote(urlparse(url).path).split("/") if part]
        for count in (3, 2, 1):
            candidate = self.file_cache.joinpath(*parts[-count:]) if len(parts) >= count else None
            if candidate is not None and candidate.is_file():
                return candidate.resolve().as_uri()
        name = Path(saved_as).name if isinstance(saved_as, str) else ""
        candidate = self.file_cache.joinpath(*self.task, name) if name and all(self.task) else None
        return candidate.resolve().as_uri() if candidate is not None and candidate.is_file() else None

    def rehome(self, where: str, value: Any, shell: bool = False) -> Any:
        """``/home/user`` -> ``~`` at the start of a string, ``$HOME`` in shell code (a ``shell`` command, the code
        of ``bash -c``); elsewhere (Python code, a URL to compare) it cannot be moved: the task then needs the
        container, whose home is ``/home/user``."""
        if isinstance(value, dict):
            shell = shell or value.get("shell") in (True, "true")
            return {key: self.rehome(where, item, shell) for key, item in value.items()}
        if isinstance(value, list):
            code = 2 if len(value) > 2 and _program(value) in SHELLS and value[1] == "-c" else -1
            return [self.rehome(where, item, shell or index == code) for index, item in enumerate(value)]
        if not isinstance(value, str) or not any(path in value for path in SHELL_PATHS):
            return value
        if value == OSWORLD_HOME or value.startswith(OSWORLD_HOME + "/"):
            value = "~" + value[len(OSWORLD_HOME):]
        if shell:
            return _shell_rehome(value)
        if OSWORLD_HOME in value:
            self.note("docker", OSWORLD_HOME, f"{where}: {value[:80]!r} names OSWorld's home inside code")
        return value

    def step(self, where: str, step: Any) -> Any:
        if not isinstance(step, dict) or not isinstance(step.get("type"), str):
            self.note("format", where, f"a setup step is {{'type': ..., 'parameters': ...}}, got {str(step)[:80]}")
            return step
        kind, params = step["type"], step.get("parameters", {})
        if kind == "download" and isinstance(params, dict):
            files = [dict(item, url=self.cached(item["url"], item.get("path")) or item["url"])
                     if isinstance(item, dict) and isinstance(item.get("url"), str) else item
                     for item in params.get("files", [])]
            step = dict(step, parameters=dict(params, files=files))
        if kind == "launch" and isinstance(params, dict) and "ready" not in step and _program(
                params.get("command")) in WINDOWLESS_COMMANDS:
            step = dict(step, ready={})
        if kind == "launch" and isinstance(params, dict) and "ready" not in step and _program(
                params.get("command")) in CHROME_COMMANDS:
            step = dict(step, ready=dict(CHROME_READY))
        if kind == "launch" and isinstance(params, dict) and "ready" not in step and _program(
                params.get("command")) in CODE_COMMANDS:
            step = dict(step, ready=dict(CODE_READY))
        command = params.get("command") if isinstance(params, dict) else None
        if kind in ("launch", "execute") and isinstance(command, list) and len(command) == 3 and _program(
                command) in PYTHONS and command[1] == "-c" and TERMINAL_KEYS.search(str(command[2])):
            step = dict(step, parameters=dict(params, command=[*command[:2], TERMINAL_KEYS.sub(
                OPEN_TERMINAL, command[2])]))
        if kind in ("launch", "execute") and isinstance(params, dict) and _words(
                params.get("command")) == ["pkill", "chrome"]:
            step = {"type": "execute", "parameters": {"command": END_CHROMIUM, "shell": True}}
        elif kind in ("launch", "execute") and isinstance(params, dict) and end_program(params.get("command")):
            step = {"type": "execute", "parameters": {"command": end_program(params["command"]), "shell": True}}
        remote = [] if kind in DATA_URL_STEPS else _remote_urls(step.get("parameters", {}))
        if kind in ACCOUNT_STEPS:
            self.note("account", kind, f"{where} logs into a web service with OSWorld's credentials")
        elif kind not in STEP_TYPES:
            self.note("setup", kind, f"{where}: step type not implemented (known: {', '.join(STEP_TYPES)})")
        if kind == "proxy":
            self.note("network", kind, f"{where}: {PROXY_NOTE}")
        elif remote:
            self.note("network", kind, f"{where} reaches {remote[0]}")
        self.needs(where, step.get("parameters", {}))
        return self.rehome(where, step)

    def getter(self, where: str, config: Any) -> Any:
        if config is None:
            return None
        if not isinstance(config, dict) or not isinstance(config.get("type"), str):
            self.note("format", where, f"a getter config is {{'type': ...}}, got {str(config)[:80]}")
            return config
        kind = config["type"]
        if kind == "cloud_file":
            paths = config.get("path")
            mapped = ([self.cached(p) or p for p in paths] if isinstance(paths, list)
                      else self.cached(paths) or paths if isinstance(paths, str) else paths)
            config = dict(config, path=mapped)
        remote = _remote_urls({key: value for key, value in config.items() if key != "type"})
        if remote:
            self.note("network", kind, f"{where} reaches {remote[0]}")
        if kind not in GETTERS:
            self.note("getter", kind, f"{where}: getter not implemented")
        if kind in A11Y_GETTERS and kind not in self.a11y:
            self.a11y.append(kind)
        self.needs(where, config.get("command", ""))
        return self.rehome(where, config)

    def evaluator(self, evaluator: Any) -> Any:
        if not isinstance(evaluator, dict) or "func" not in evaluator:
            self.note("format", "evaluator", f"an evaluator is a dict with a 'func', got {str(evaluator)[:80]}")
            return evaluator
        evaluator = dict(evaluator)
        evaluator["postconfig"] = [self.step(f"postconfig step {i}", step)
                                   for i, step in enumerate(evaluator.get("postconfig", []) or [])]
        funcs = evaluator["func"] if isinstance(evaluator["func"], list) else [evaluator["func"]]
        if funcs == [INFEASIBLE]:
            return evaluator
        listed = isinstance(evaluator["func"], list)
        for key in ("result", "expected"):
            configs = evaluator.get(key)
            if listed and isinstance(configs, list):
                evaluator[key] = [self.getter(f"{key} {i}", c) for i, c in enumerate(configs)]
            elif configs is not None:
                evaluator[key] = self.getter(key, configs)
        options = evaluator.get("options")
        options = options if listed and isinstance(options, list) else [options] * len(funcs)
        for func, option in zip(funcs, options, strict=False):
            if func not in METRICS:
                self.note("metric", str(func), "metric not implemented")
            elif isinstance(option, dict):
                for problem in option_problems(func, option):
                    self.note("option", func, problem)
        return evaluator


def check_osworld(data: dict[str, Any], path: Path, domain: str = "",
                  file_cache: Path | None = None) -> OSWorldTask:
    """One OSWorld task (its JSON already parsed) translated for this env, or the reasons it cannot run here."""
    translation = _Translation(file_cache, (str(data.get("domain") or domain), str(data.get("id", path.stem))))
    translated = copy.deepcopy(data)
    if data.get("proxy"):
        translation.note("network", "proxy", PROXY_NOTE)
    config = data.get("config", [])
    if not isinstance(config, list):
        translation.note("format", "config", f"'config' must be a list of setup steps, got {str(config)[:80]}")
        config = []
    translated["config"] = [translation.step(f"setup step {i}", step) for i, step in enumerate(config)]
    translated["evaluator"] = translation.evaluator(data.get("evaluator"))
    translated.setdefault("domain", domain)
    task = None
    if not translation.reasons:
        try:
            task = Task.from_dict(translated, base_dir=path.parent, domain=domain)
            if any(reason.name == "proxy" for reason in translation.network):
                task.params["proxy"] = PROXY_NOTE
            if translation.network:  # a container gives its agent code the network for it (step_envs.desktop.env)
                task.params["network"] = sorted({f"{reason.name}: {reason.detail}" for reason in translation.network})
            if translation.a11y:  # a session with AT-SPI (step_envs.desktop.env)
                task.params["a11y"] = list(translation.a11y)
            for need, name in (("home", OSWORLD_HOME), ("sudo", "sudo")):  # for the env's provider (desktop.env)
                found = [reason.detail for reason in translation.docker if reason.name == name]
                if found:
                    task.params[need] = found
        except (TaskError, TypeError, ValueError) as exc:
            translation.note("format", "task", str(exc))
    return OSWorldTask(path=path, domain=str(data.get("domain") or domain), id=str(data.get("id", path.stem)),
                       instruction=str(data.get("instruction", "")), data=data, task=task,
                       unsupported=translation.reasons, network=translation.network, docker=translation.docker)


def _is_task(data: Any) -> bool:
    """OSWorld's example trees also hold index files (``test_all.json``: domain -> ids); tasks have these keys."""
    return isinstance(data, dict) and "instruction" in data and "evaluator" in data


def load_osworld(path: str | Path, file_cache: str | Path | None = None) -> list[OSWorldTask]:
    """Every OSWorld task under ``path`` (one ``.json`` file or a folder searched recursively), sorted by domain
    and id; the domain is the task file's folder name, as in ``evaluation_examples/examples/<domain>/<id>.json``.

    A file that is not valid JSON loads with a ``format`` reason; JSON files that are not tasks (OSWorld's index
    files) are skipped. ``file_cache``: a folder mirroring OSWorld's remote files (see the module docstring)."""
    root = Path(path)
    if not root.exists():
        raise TaskError(f"{root} does not exist; pass an OSWorld task file or a folder of them "
                        "(e.g. evaluation_examples/examples)")
    files = [root] if root.is_file() else sorted(root.rglob("*.json"))
    cache = Path(file_cache) if file_cache is not None else None
    loaded = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            loaded.append(OSWorldTask(file, file.parent.name, file.stem, "", {}, None,
                                      [Reason("format", "json", f"cannot read {file.name}: {exc}")]))
            continue
        if _is_task(data):
            loaded.append(check_osworld(data, file, file.parent.name, cache))
    return sorted(loaded, key=lambda item: (item.domain, item.id))
