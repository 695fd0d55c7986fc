"""OSWorld's ``DesktopEnv`` interface over step-gym's providers, so OSWorld's run scripts and agents work unchanged.

Description
    A drop-in for ``desktop_env.desktop_env.DesktopEnv``: ``reset(task_config=...)`` takes one of OSWorld's task
    dicts (``evaluation_examples/examples/<domain>/<id>.json`` as loaded), translates it as the OSWorld task
    loader does (:mod:`step_envs.tasks.osworld`: ``/home/user`` is the env's home, downloads through the host
    cache, the proxy dropped) and runs its setup; ``step(action, pause)`` runs one action and returns OSWorld's
    4-tuple; ``evaluate()`` scores the task when the caller decides the episode is over. Underneath it is
    :class:`step_envs.desktop.env.DesktopEnv` on a ``local``, ``docker`` or ``ray`` provider.

Action Space
    ``pyautogui``: a string of Python code (``pyautogui`` and ``time`` are in scope), or a dict whose
    ``command`` is one; ``computer_13``: a dict with ``action_type`` and its parameters. In both, ``WAIT``,
    ``DONE`` and ``FAIL`` (a string, or a dict with that ``action_type``) are the control actions.
    OSWorld's ``claude_computer_use`` space is the same as ``pyautogui`` (code strings).

Observation Space
    ``{"screenshot": PNG bytes, "accessibility_tree": str | None, "terminal": str | None, "instruction": str}``:
    the tree with ``require_a11y_tree``, the active terminal's text with ``require_terminal`` (both None when not
    asked for or when they cannot be read).

Rewards
    ``step`` always returns 0, as OSWorld's does; ``evaluate()`` returns the score in [0, 1]. A feasible task
    whose last action was ``FAIL`` scores 0; an infeasible one scores 1 exactly when the last action was ``FAIL``.

Episode End
    ``done`` is True after ``DONE`` or ``FAIL`` (``info`` is ``{"done": True}`` / ``{"fail": True}``), or when the
    desktop itself failed (``info["env_error"]``). There is no step limit: the caller counts steps.

Arguments
    ``provider_name``: ``local`` (default), ``docker`` or ``ray``; OSWorld's VM providers (``vmware``,
    ``virtualbox``, ``aws``, ...) have no counterpart here and are refused. ``screen_size`` (OSWorld's default:
    ``$SCREEN_WIDTH`` x ``$SCREEN_HEIGHT``, else 1920 x 1080), ``action_space``, ``require_a11y_tree`` and
    ``require_terminal`` (both turn AT-SPI on in the session) mean what they mean in OSWorld; ``os_type`` must be
    ``Ubuntu``. Accepted and ignored, since they configure OSWorld's VMs: ``region``, ``path_to_vm``,
    ``snapshot_name`` (every reset restores the pristine desktop), ``headless`` (sessions have no window on this
    host), ``cache_dir`` (downloads go to the host cache of :mod:`step_envs.server.fetch`, checker files to a
    private temporary folder), ``enable_proxy`` (traffic goes direct; a task that asked for OSWorld's proxy says
    so in every step's ``info["proxy"]``) and ``client_password`` (the session user has no sudo).
    ``provider_kwargs`` go to the provider (e.g. ``image`` for ``docker``).

Differences from OSWorld's
    The desktop starts at the first ``reset``, not in the constructor; ``reset`` without a task, or with a task
    that cannot run here (the reasons are listed), raises ValueError; a setup that fails raises RuntimeError
    instead of being retried 5 times. ``step`` also reports a rejected action in ``info["action_error"]``.

Version History
    v0: first version.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from step_envs.actions.env_actions import CONTROL_TOKENS
from step_envs.desktop.env import DesktopEnv as GymDesktopEnv
from step_envs.osworld import OSWORLD_SCREEN
from step_envs.osworld.controllers import OSWorldController, OSWorldSetupController
from step_envs.providers import PROVIDERS
from step_envs.server.client import ControllerClient
from step_envs.tasks import Task
from step_envs.tasks.osworld import check_osworld

PROVIDER_NAMES = tuple(name for name in PROVIDERS if name != "emulator")
OSWORLD_VM_PROVIDERS = ("vmware", "virtualbox", "aws", "azure", "gcp", "aliyun", "volcengine")
ACTION_SPACES = {"pyautogui": "pyautogui", "claude_computer_use": "pyautogui", "computer_13": "computer_13"}
"""OSWorld's action space names -> ours."""


def _control(action: Any) -> str | None:
    """``WAIT`` / ``DONE`` / ``FAIL`` when ``action`` is one (a string or a dict's ``action_type``), else None."""
    kind = action.get("action_type") if isinstance(action, dict) else action
    return kind if isinstance(kind, str) and kind in CONTROL_TOKENS else None


class DesktopEnv:
    """OSWorld's ``DesktopEnv`` over step-gym's providers; see the module docstring for the manual."""

    def __init__(self, provider_name: str = "local", region: str | None = None, path_to_vm: str | None = None,
                 snapshot_name: str = "init_state", action_space: str = "pyautogui", cache_dir: str = "cache",
                 screen_size: tuple[int, int] = (int(os.environ.get("SCREEN_WIDTH", OSWORLD_SCREEN[0])),
                                                 int(os.environ.get("SCREEN_HEIGHT", OSWORLD_SCREEN[1]))),
                 headless: bool = True, require_a11y_tree: bool = True, require_terminal: bool = False,
                 os_type: str = "Ubuntu", enable_proxy: bool = False, client_password: str = "",
                 provider_kwargs: dict[str, Any] | None = None) -> None:
        if provider_name in OSWORLD_VM_PROVIDERS:
            raise ValueError(f"provider_name {provider_name!r} is one of OSWorld's VM providers; this env runs on "
                             f"step-gym's: {', '.join(PROVIDER_NAMES)} (docker: `step-envs image build` first)")
        if provider_name not in PROVIDER_NAMES:
            raise ValueError(f"unknown provider_name {provider_name!r}; known: {', '.join(PROVIDER_NAMES)}")
        if action_space not in ACTION_SPACES:
            raise ValueError(f"action_space must be one of {', '.join(ACTION_SPACES)}, got {action_space!r}")
        if os_type != "Ubuntu":
            raise ValueError(f"os_type must be 'Ubuntu' (the only desktop step-gym runs), got {os_type!r}")
        self.provider_name, self.action_space = provider_name, action_space
        self.screen_width, self.screen_height = int(screen_size[0]), int(screen_size[1])
        self.require_a11y_tree, self.require_terminal = require_a11y_tree, require_terminal
        self.enable_proxy = enable_proxy
        a11y = {"a11y": True} if require_a11y_tree or require_terminal else {}  # /terminal reads AT-SPI too
        self.env = GymDesktopEnv(provider=provider_name, action_space=ACTION_SPACES[action_space],
                                 screen_size=(self.screen_width, self.screen_height), max_steps=sys.maxsize,
                                 settle_max=0.0, provider_kwargs={**a11y, **(provider_kwargs or {})})
        self.controller = OSWorldController(self._client, (self.screen_width, self.screen_height))
        self.setup_controller = OSWorldSetupController(self._client, lambda: self.task.base_dir if self.task else None)
        self.task: Task | None = None
        self.task_id: str | None = None
        self.instruction: str | None = None
        self.action_history: list[Any] = []
        self._traj_no, self._step_no = -1, 0

    def _client(self) -> ControllerClient:
        if self.env.client is None:
            raise RuntimeError("the desktop is not running: call reset(task_config=...) first")
        return self.env.client

    @property
    def vm_ip(self) -> str:
        """The host the controller listens on (OSWorld agents read it after ``reset``)."""
        return urlsplit(self._client().endpoint.url).hostname or "127.0.0.1"

    @property
    def vm_platform(self) -> str:
        return self.controller.get_vm_platform()

    @property
    def vm_screen_size(self) -> dict[str, int]:
        return self.controller.get_vm_screen_size()

    def reset(self, task_config: dict[str, Any] | Task | None = None, seed: int | None = None,
              options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Restore the pristine desktop, run the task's setup, and return the first observation.

        ``task_config``: an OSWorld task dict, or a :class:`~step_envs.tasks.Task` (then its relative file paths
        resolve against its own folder; a dict's resolve against the current directory). ``options`` is unused,
        as in OSWorld."""
        if task_config is None:
            raise ValueError("reset needs task_config: an OSWorld task dict (evaluation_examples/examples/<domain>/"
                             "<id>.json, loaded) or a step_envs Task")
        if isinstance(task_config, Task):
            task = task_config
        else:
            item = check_osworld(task_config, Path.cwd() / f"{task_config.get('id', 'task')}.json",
                                 str(task_config.get("snapshot", "")))
            if item.task is None:
                raise ValueError(f"OSWorld task {item.id} cannot run here: "
                                 + "; ".join(str(reason) for reason in item.unsupported))
            task = item.task
        self._traj_no, self._step_no = self._traj_no + 1, 0
        self.action_history = []
        self.task, self.task_id, self.instruction = task, task.id, task.instruction
        self.env.reset(seed=seed, options={"task": task})  # ResetError (a RuntimeError) when it cannot
        return self._get_obs()

    def _get_obs(self) -> dict[str, Any]:
        """OSWorld's observation: the screen as PNG bytes, the tree and terminal text when asked for, the
        instruction."""
        return {"screenshot": self.controller.get_screenshot(),
                "accessibility_tree": self.controller.get_accessibility_tree() if self.require_a11y_tree else None,
                "terminal": self.controller.get_terminal_output() if self.require_terminal else None,
                "instruction": self.instruction}

    def step(self, action: str | dict[str, Any], pause: float = 2) -> tuple[dict[str, Any], int, bool, dict]:
        """Run ``action``, wait ``pause`` seconds, observe: ``(observation, 0, done, info)``. ``WAIT`` waits
        ``pause`` once more (OSWorld's timing)."""
        if self.task is None:
            raise RuntimeError("call reset(task_config=...) before step")
        self._step_no += 1
        self.action_history.append(action)
        info: dict[str, Any] = {}
        done = False
        control = _control(action)
        if control == "WAIT":
            time.sleep(pause)
        elif control in ("DONE", "FAIL"):
            done = True
            info[control.lower()] = True
        else:
            code = action["command"] if self.action_space != "computer_13" and isinstance(action, dict) else action
            *_, step_info = self.env.step(code)
            if step_info.get("action_error"):
                info["action_error"] = step_info["action_error"]
            if step_info.get("env_error"):
                done, info["env_error"] = True, step_info["env_error"]
        if self.task.params.get("proxy"):
            info["proxy"] = self.task.params["proxy"]
        if info.get("env_error"):
            return {"screenshot": None, "accessibility_tree": None, "terminal": None,
                    "instruction": self.instruction}, 0, done, info
        time.sleep(pause)
        return self._get_obs(), 0, done, info

    def evaluate(self) -> float:
        """The task's score in [0, 1] for the desktop as it is now (the evaluator's postconfig runs first)."""
        if self.task is None:
            raise RuntimeError("call reset(task_config=...) before evaluate")
        self._client()
        last = _control(self.action_history[-1]) if self.action_history else None
        return float(self.env.score("FAIL" if last == "FAIL" else "DONE").value)

    def render(self, mode: str = "rgb_array") -> bytes:
        """The screen as PNG bytes (OSWorld's ``rgb_array`` render)."""
        if mode != "rgb_array":
            raise ValueError(f"mode must be 'rgb_array', got {mode!r}")
        return self.controller.get_screenshot()

    def close(self) -> None:
        self.env.close()
