"""DesktopEnv: an OSWorld-style desktop task as a Gymnasium environment.

``reset`` brings the desktop back to pristine and runs the task's setup; ``step`` runs one action and returns
the screen; the reward is 0 until the episode ends (DONE / FAIL / ``max_steps``), then the checker's score.
Bad actions are reported in ``info["action_error"]``; environment failures in ``info["env_error"]``.
With ``record_dir``, each episode is recorded (the controller's ffmpeg, from the end of the setup to the last
action) and saved at :func:`recording_path`; the last step's ``info["recording"]`` names the file (a recording that
fails is ``info["recording_error"]``, never a failed episode).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from step_envs.actions.env_actions import MAX_ACTION_CHARS, PARSERS, ParsedAction
from step_envs.checkers import CheckContext, Score, evaluate
from step_envs.core import DEFAULT_SCREEN
from step_envs.desktop.setup import SetupError, SetupRunner
from step_envs.episode_env import EpisodeEnv
from step_envs.providers import make_provider
from step_envs.providers.base import Provider, ProviderError
from step_envs.server import A11Y_SCOPES, SETTLE_MODES
from step_envs.server.client import A11yError, ControllerClient
from step_envs.spaces import MAX_INSTRUCTION_CHARS, Computer13Space, TextSpace
from step_envs.tasks import Task, load_task
from step_envs.tasks.osworld import OSWORLD_HOME

MAX_A11Y_CHARS = 200_000
log = logging.getLogger(__name__)
SNAPSHOT_IDLE_S = 0.5  # how long the task's windows must stop drawing before the settled session is snapshotted
RESET_STILL_S = 0.05  # a reset observes once nothing drew for this long, and (after ~/Desktop changed) quiet as long


def recording_path(record_dir: str | Path, task_id: str, seed: int | None) -> Path:
    """Where the recording of an episode of ``task_id`` reset with ``seed`` is saved:
    ``<record_dir>/<task id, [^A-Za-z0-9._-] runs as _>[-seed<N>].mp4``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", task_id).strip("_") or "episode"
    return Path(record_dir) / f"{name}{'' if seed is None else f'-seed{seed}'}.mp4"


class DesktopEnv(EpisodeEnv):
    """An OSWorld-style Linux desktop running one task at a time, as a Gymnasium environment.

    ## Description

    A real X session with real apps (terminal, text editor, file manager, LibreOffice, Chromium, an image viewer)
    on a provider: an X session on this host (``local``), a container (``docker``), a Ray actor (``ray``), or a
    `Provider` instance. ``reset`` restores the desktop to pristine and runs the task's setup steps; each ``step``
    runs one action in a persistent worker inside the session and returns the settled screen; when the episode
    ends the task's checker reads the desktop and scores it. The desktop starts at the first ``reset``.

    ## Action Space

    ``action_space="pyautogui"`` (default): a `TextSpace` of at most 65,536 characters, Python code using
    ``pyautogui`` (and ``time``), or one of the control actions ``WAIT``, ``DONE``, ``FAIL``.
    ``action_space="computer_13"``: a `Computer13Space` of OSWorld's 13 structured actions (a dict or its JSON,
    ``{"action_type": "CLICK", "x": 10, "y": 20}``) plus the control actions. A bad action never raises: it is
    reported in ``info["action_error"]`` and counts as a step.

    ## Observation Space

    A ``Dict``: ``screenshot``, ``Box(0, 255, (height, width, 3), uint8)``, the settled screen in RGB;
    ``instruction``, a `TextSpace` of up to 4,096 characters; with ``a11y_tree=True`` also ``a11y_tree``, OSWorld's
    accessibility XML (up to 200,000 characters; ``""`` and ``info["a11y_error"]`` when it cannot be read), of the
    whole desktop or, with ``a11y_scope="active"``, of the active window only.

    ## Rewards

    0 on every step but the last; the last step's reward is the checker's score in [0, 1]. An infeasible task
    scores 1 only when the agent said ``FAIL``; ``FAIL`` on a feasible task scores 0.

    ## Starting State

    The pristine desktop after the task's setup. ``reset(seed=...)`` seeds the env's ``np_random``; when the task
    is a bare template name (``task="terminal-chmod"``), the instance is drawn from it
    (`step_envs.tasks.model.draw_instance_seed`): equal seeds run the same instance ``terminal-chmod/<n>``, no
    seed a random one. A fixed task or an instance id (``terminal-chmod/3``) runs as given, whatever the seed.

    ## Episode End

    1. Termination: the agent sends ``DONE`` or ``FAIL``.
    2. Truncation: the step that reaches ``max_steps`` (its checker runs too).
    3. Truncation: the environment failed (the desktop died, a setup step could not run, the checker could not
       reach the session): ``info["env_error"]`` says what, and it is never a task failure.

    ## Arguments

    ``task``: a built-in task id, a template name (the seed draws the instance), an instance ``<template>/<seed>``,
    a task JSON path, or a `Task`; or ``reset(options={"task": ...})``, which also keeps it for later resets.
    ``provider`` (``"local"``) and ``provider_kwargs``; ``action_space`` (``"pyautogui"``); ``screen_size``
    (``(1280, 720)``); ``max_steps`` (15); ``a11y_tree`` (False; a task whose checker reads the accessibility tree,
    like OSWorld's terminal tasks, gets a session with AT-SPI on either way); ``a11y_scope`` (``"all"``: the whole
    desktop's tree; ``"active"``: the active window's only, a faster read); ``action_timeout`` (10 s per action);
    ``wait_seconds`` (what ``WAIT`` sleeps, 1 s); ``settle_min`` / ``settle_max`` (0 / 0.5 s: how long a step waits
    for the screen to stop changing); ``settle`` (``"damage"``: the X server says when drawing stopped; ``"grabs"``:
    two grabs 15 ms apart are identical); ``render_mode`` (None or ``"rgb_array"``); ``record_dir`` (an mp4 of every
    episode, :func:`recording_path`); ``reset_mode`` (the provider's: ``"snapshot"`` restores a CRIU snapshot of the
    session taken after the task's setup, docs/providers.md) and ``snapshot_min_s`` (0.5: only a task whose restore
    and setup took this long is snapshotted). Every option and ``info`` key: docs/envs.md.

    ```python
    env = gymnasium.make("step_envs/Desktop-v0", task="terminal-chmod", max_steps=10)
    obs, info = env.reset(seed=0)          # info["task_id"]: the instance the seed drew
    ```

    ## Version History

    * v0: first version (``step_envs/Desktop-v0`` and ``step_envs/<task-id>-v0``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    env_errors = (ProviderError, SetupError)

    def __init__(self, task: Task | str | None = None, provider: str | Provider = "local",
                 action_space: str = "pyautogui", screen_size: tuple[int, int] = DEFAULT_SCREEN, max_steps: int = 15,
                 a11y_tree: bool = False, action_timeout: float = 10.0, wait_seconds: float = 1.0,
                 settle_min: float = 0.0, settle_max: float = 0.5, settle: str = "damage",
                 render_mode: str | None = None, provider_kwargs: dict[str, Any] | None = None,
                 record_dir: str | Path | None = None, a11y_scope: str = "all", reset_mode: str | None = None,
                 snapshot_min_s: float = 0.5) -> None:
        if action_space not in PARSERS:
            raise ValueError(f"action_space must be one of {sorted(PARSERS)}, got {action_space!r}")
        if a11y_scope not in A11Y_SCOPES:
            raise ValueError(f"a11y_scope must be one of {', '.join(A11Y_SCOPES)}, got {a11y_scope!r}")
        if settle not in SETTLE_MODES:
            raise ValueError(f"settle must be one of {', '.join(SETTLE_MODES)}, got {settle!r}")
        super().__init__(task, max_steps, render_mode)
        self.width, self.height = screen_size
        self.action_space_name = action_space
        self.action_timeout, self.wait_seconds = action_timeout, wait_seconds
        self.settle_min, self.settle_max, self.settle = settle_min, settle_max, settle
        self.a11y_tree, self.a11y_scope = a11y_tree, a11y_scope
        self._provider_spec, self._provider_kwargs = provider, dict(provider_kwargs or {})
        if reset_mode is not None:
            if isinstance(provider, Provider):
                raise ValueError("reset_mode is the provider's: give it to the provider you pass "
                                 "(e.g. LocalProvider(reset_mode='snapshot'))")
            self._provider_kwargs["reset_mode"] = reset_mode
        self.snapshot_min_s = snapshot_min_s
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self._recording: Path | None = None
        self.provider: Provider | None = None
        self.client: ControllerClient | None = None
        self._parse = PARSERS[action_space]

        obs = {"screenshot": spaces.Box(0, 255, (self.height, self.width, 3), np.uint8),
               "instruction": TextSpace(MAX_INSTRUCTION_CHARS)}
        if a11y_tree:
            obs["a11y_tree"] = TextSpace(MAX_A11Y_CHARS)
        self.observation_space = spaces.Dict(obs)
        self.action_space = (TextSpace(MAX_ACTION_CHARS)
                             if action_space == "pyautogui" else Computer13Space(self.width, self.height))
        self._cache = Path(tempfile.mkdtemp(prefix="step-gym-cache-"))
        self._history: list[ParsedAction] = []

    # --- lifecycle -------------------------------------------------------------------------------------

    def _make_provider(self) -> Provider:
        """The provider given, or one made for the current task: a container made for an OSWorld task that uses
        the internet gives its agent code the network, and one for a task that runs sudo lets its user use sudo."""
        if isinstance(self._provider_spec, Provider):
            return self._provider_spec
        kwargs = {"width": self.width, "height": self.height,
                  **({"a11y": True} if self.a11y_tree or self._task_reads_a11y() else {}), **self._provider_kwargs}
        if self._provider_spec == "docker" and self.task is not None:
            if self.task.params.get("network"):
                kwargs.setdefault("agent_network", "host")
            if self.task.params.get("sudo"):
                kwargs.setdefault("sudo", True)
        return make_provider(self._provider_spec, **kwargs)

    def _task_reads_a11y(self) -> bool:
        """The task's checker reads the accessibility tree (OSWorld's ``vm_terminal_output``, which reads the
        terminal's text from it; :data:`step_envs.tasks.osworld.A11Y_GETTERS`): its session needs AT-SPI on."""
        return bool(self.task is not None and self.task.params.get("a11y"))

    def _drop_provider(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.provider is not None:
            self.provider.stop()
            self.provider = None

    def _ensure_started(self, after_env_error: bool) -> float:
        """Start the desktop on first use; afterwards restore it, or replace it if it died."""
        assert self.provider is not None
        t0 = time.monotonic()
        if self.client is not None and after_env_error and not self.provider.alive():
            self.client.close()
            self.client = None
            self.provider.stop()
        if self.client is None:
            self.client = ControllerClient(self.provider.start())
        else:
            self.provider.restore()
            endpoint = self.provider.start()  # the same one, or a recreated container's
            if endpoint != self.client.endpoint:
                self.client.close()
                self.client = ControllerClient(endpoint)
        return time.monotonic() - t0

    def _check_provider(self, task: Task) -> None:
        """What a task needs that this env's provider does not give: the network (a container whose agent code has
        none), OSWorld's home ``/home/user`` (only a container has it) or sudo (only a container started with it)."""
        provider = self.provider
        assert provider is not None
        if task.params.get("network") and getattr(provider, "agent_network", None) == "none":
            raise ProviderError(f"task {task.id} uses the network ({'; '.join(task.params['network'])}), which this "
                                "env's container gives its agent code none of: run it with "
                                "provider_kwargs={'agent_network': 'host'}")
        docker = provider.name == "docker"
        if task.params.get("home") and provider.fixed_home != OSWORLD_HOME:
            raise ProviderError(f"task {task.id} names OSWorld's home {OSWORLD_HOME} inside its code "
                                f"({'; '.join(task.params['home'])}), which only a container has: run it with "
                                "provider='docker'")
        if task.params.get("sudo") and not provider.sudo:
            how = ("provider_kwargs={'sudo': True}" if docker else
                   "provider='docker' (an env made for the task gives its container sudo)")
            raise ProviderError(f"task {task.id} runs sudo ({'; '.join(task.params['sudo'])}), which this env's "
                                f"{provider.name} session does not allow: run it with {how}")

    # --- the episode (step_envs.episode_env.EpisodeEnv runs it) -----------------------------------------

    def _is_template(self, spec: Any) -> bool:
        from step_envs.tasks.templates import is_template

        return is_template(spec)

    def _load_task(self, spec: Task | str, seed: int | None = None) -> Task:
        return load_task(spec if seed is None else f"{spec}/{seed}")

    def _begin(self, info: dict[str, Any], *, seed: int | None, after_env_error: bool) -> dict[str, Any]:
        """Restore the desktop (start it, or replace it if it died), run the task's setup, observe."""
        assert self.task is not None
        self._history = []
        timings = info["timings"]
        if self.provider is not None and self._task_reads_a11y() and not getattr(self.provider, "a11y", True) \
                and not isinstance(self._provider_spec, Provider) and "a11y" not in self._provider_kwargs:
            self._drop_provider()  # AT-SPI is on or off for a session's life: the task gets a new one with it
        if self.provider is None:
            self.provider = self._make_provider()
        self._check_provider(self.task)
        key = self._snapshot_key()
        if key is not None and self.client is not None and not after_env_error and self.provider.has_snapshot(key):
            restored = self._restore_snapshot(key, info)
        else:
            restored = False
        if not restored:
            timings["restore"] = self._ensure_started(after_env_error)
            assert self.client is not None
            t0 = time.monotonic()
            # the pointer goes back where a new X session has it (the screen's centre): left where the last
            # episode clicked, it would hover-highlight what lies there and the first screen would depend on history
            self.client.act(f"pyautogui.moveTo({self.width // 2}, {self.height // 2})")
            SetupRunner(self.client, self.task.base_dir).run(self.task.config)
            timings["setup"] = time.monotonic() - t0
        assert self.client is not None
        if self.record_dir is not None:
            self._start_recording(seed, info)
        t0 = time.monotonic()
        # let the desktop finish painting, and observe it: the first observation of an episode waits for a
        # longer stillness than a step after any drawing, and, when the restore or the setup changed the files
        # on the desktop (~/Desktop), a longer quiet: the desktop re-reads that folder on its own time and its
        # repaint can start after a step's short wait ended; equal seeds must give equal screens. A reset that
        # changed nothing there sets off no late drawing, and waits a step's quiet
        obs = self._observe(info, self.client.act_observe("", settle_max=self.settle_max, settle=self.settle,
                                                          still=RESET_STILL_S, files_quiet=RESET_STILL_S)[1])
        timings["observe"] = time.monotonic() - t0
        if key is not None and not restored and timings["restore"] + timings["setup"] >= self.snapshot_min_s:
            self._take_snapshot(key, info)
            # observe the restored session, as every later reset will: a restore fires the timers that came due
            # while the tree was down (the panel's clock redraws), so the screen before the dump may differ
            obs = self._observe(info, self.client.act_observe("", settle_max=self.settle_max, settle=self.settle,
                                                              still=RESET_STILL_S, files_quiet=RESET_STILL_S)[1])
        return obs

    # --- snapshot resets (docs/providers.md) -------------------------------------------------------------

    def _snapshot_key(self) -> str | None:
        """What names this episode's start in the provider's snapshots: the task's id, setup and files' folder
        (equal keys, equal setups); None when the provider takes no snapshots or the episode is recorded (a
        recording running in the session must not be carried into the next episode)."""
        if getattr(self.provider, "reset_mode", "restart") != "snapshot" or self.record_dir is not None:
            return None
        assert self.task is not None
        return json.dumps({"id": self.task.id, "config": self.task.config, "base": str(self.task.base_dir),
                           "screen": [self.width, self.height]}, sort_keys=True, default=str)

    def _reconnect(self) -> None:
        """A new client for the session's server: a dump drops every TCP connection to it."""
        assert self.provider is not None
        if self.client is not None:
            self.client.close()
        self.client = ControllerClient(self.provider.start())

    def _restore_snapshot(self, key: str, info: dict[str, Any]) -> bool:
        """Bring back the session as it was after this task's setup; False (and a fresh session) when the restore
        fails, so the episode starts the pristine way."""
        assert self.provider is not None
        t0 = time.monotonic()
        try:
            self.provider.restore_snapshot(key)
        except ProviderError as exc:
            log.warning("step-gym: restoring the snapshot failed (%s); starting a fresh session", exc)
            self._drop_provider()
            self.provider = self._make_provider()
            return False
        self._reconnect()
        info["timings"]["restore"], info["timings"]["setup"] = time.monotonic() - t0, 0.0
        info["snapshot"] = "restored"
        return True

    def _take_snapshot(self, key: str, info: dict[str, Any]) -> None:
        """Snapshot the settled session after this task's setup, for its next resets; a failure only logs (this
        episode goes on, in a fresh session if the dump took the old one down)."""
        assert self.provider is not None and self.client is not None
        # settled means the apps stopped working, not only the screen still for a moment: GIMP shows its window
        # and then loads for a second or more; a snapshot taken then would restore a busy app at every reset
        apps = [w["id"] for w in self.client.windows() if w.get("desktop") != "-1"]
        if apps:
            with contextlib.suppress(ProviderError, OSError):  # a busy app is snapshotted busy, not lost
                self.client.wait_idle(apps, SNAPSHOT_IDLE_S, 60.0)
        try:
            info["timings"]["snapshot"] = self.provider.snapshot(key)
            info["snapshot"] = "taken"
        except ProviderError as exc:
            log.warning("step-gym: could not snapshot the session (%s); resets of this task restart its apps", exc)
            info["snapshot"] = f"failed: {exc}"
            if not self.provider.alive():
                raise
        self._reconnect()

    def _start_recording(self, seed: int | None, info: dict[str, Any]) -> None:
        """Record the episode from here; a recording left running (an episode cut short by a reset) is dropped."""
        assert self.client is not None and self.task is not None and self.record_dir is not None
        if self._recording is not None:
            self._recording = None
            with contextlib.suppress(RuntimeError):
                self.client.end_recording()
        try:
            self.client.start_recording()
            self._recording = recording_path(self.record_dir, self.task.id, seed)
        except RuntimeError as exc:
            info["recording_error"] = str(exc)

    def _save_recording(self, info: dict[str, Any]) -> None:
        """Stop the episode's recording and write the mp4 (whole or not at all) at its :func:`recording_path`."""
        path, self._recording = self._recording, None
        if path is None or self.client is None:
            return
        try:
            data = self.client.end_recording()
        except RuntimeError as exc:
            info["recording_error"] = str(exc)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.part")
        part.write_bytes(data)
        os.replace(part, path)
        info["recording"] = str(path)

    def _blank_obs(self) -> dict[str, Any]:
        obs = {"screenshot": np.zeros((self.height, self.width, 3), np.uint8),
               "instruction": self.task.instruction if self.task else ""}
        if self.a11y_tree:
            obs["a11y_tree"] = ""
        return obs

    def _observe(self, info: dict[str, Any], screenshot: np.ndarray | None = None) -> dict[str, Any]:
        """The observation; ``screenshot`` when the action's reply already carried the screen."""
        assert self.client is not None and self.task is not None
        if screenshot is None:
            screenshot = self.client.screenshot()
        obs = {"screenshot": screenshot, "instruction": self.task.instruction}
        if self.a11y_tree:
            try:
                obs["a11y_tree"] = self.client.accessibility_tree(scope=self.a11y_scope)[:MAX_A11Y_CHARS]
            except A11yError as exc:  # an observation without its tree, not a failed step
                obs["a11y_tree"] = ""
                info["a11y_error"] = str(exc)
        return obs

    def _act(self, action: Any, info: dict[str, Any]) -> str | None:
        """Run one action in the session's worker and observe the settled screen (one round trip for code)."""
        assert self.client is not None
        timings = info["timings"]
        parsed = self._parse(action, self.width, self.height)
        self._history.append(parsed)
        t0 = time.monotonic()
        screenshot = None
        if parsed.kind == "code":
            result, screenshot = self.client.act_observe(parsed.code, self.action_timeout, self.settle_min,
                                                         self.settle_max, self.settle)
            timings["action"], timings["settle"] = result["elapsed"], result["settle"]
            if result["status"] != "success":
                info["action_error"] = result["error"]
        elif parsed.kind == "WAIT":
            time.sleep(self.wait_seconds)
        elif parsed.kind == "invalid":
            info["action_error"] = parsed.error
        timings["act_total"] = time.monotonic() - t0
        t0 = time.monotonic()
        self._obs = self._observe(info, screenshot)
        timings["observe"] = time.monotonic() - t0
        return parsed.kind if parsed.kind in ("DONE", "FAIL") else None

    def _ended(self, info: dict[str, Any]) -> None:
        self._save_recording(info)  # before the evaluation's postconfig changes the screen

    def _score(self, ending: str | None) -> Score:
        return self.score(ending or "DONE")

    def score(self, last: str = "DONE") -> Score:
        """The task's score for the desktop as it is now, the agent's last word being ``last`` (``DONE`` or
        ``FAIL``): the evaluator's postconfig runs first. ``step`` calls it when an episode ends; OSWorld-style
        callers (:class:`step_envs.osworld.DesktopEnv`) call it when they choose."""
        assert self.task is not None and self.client is not None
        if self.task.infeasible:
            if last == "FAIL":
                return Score(1.0, "infeasible task, and the agent said FAIL")
            return Score(0.0, "infeasible task: the right answer was FAIL")
        if last == "FAIL":
            return Score(0.0, "the agent said FAIL on a feasible task")
        notes = ""
        postconfig = self.task.evaluator.get("postconfig", [])
        if postconfig:
            try:
                SetupRunner(self.client, self.task.base_dir, self._cache).run(postconfig)
            except SetupError as exc:
                notes = f" (postconfig: {exc})"
        last_action = next((a.code or a.kind for a in reversed(self._history)), None)
        score = evaluate(self.task.evaluator, CheckContext(self.client, self._cache, last_action, self.task.base_dir))
        return Score(score.value, score.reason + notes) if notes else score

    def fork(self) -> DesktopEnv:
        """A second env at this env's state, mid-episode, running beside it: the same screen, apps, files, step
        count and history; the two diverge from the next action on. Needs ``reset_mode="snapshot"`` (the session
        is dumped with CRIU and restored twice: docs/providers.md has the cost and what does not carry over).
        The fork owns its session (``close()`` stops it); closing this env stops its forks too. Resets of the
        fork restore the same task snapshots as this env's."""
        provider = self.provider
        if provider is None or self.client is None or not hasattr(provider, "fork"):
            raise RuntimeError("fork() needs a started env on the local provider with reset_mode='snapshot'")
        self.client.close()  # a dump drops every TCP connection to the session
        try:
            session = provider.fork()
        finally:
            self.client = ControllerClient(provider.start())
        twin = copy.copy(self)
        twin.provider, twin._provider_spec = session, session  # its resets stay in this session
        twin.client = ControllerClient(session.endpoint)
        twin._history = list(self._history)
        twin._obs = copy.deepcopy(self._obs)
        twin._np_random = copy.deepcopy(self._np_random)
        twin._cache = Path(tempfile.mkdtemp(prefix="step-gym-cache-"))
        twin._recording = None
        return twin

    def close(self) -> None:
        self._drop_provider()
        shutil.rmtree(self._cache, ignore_errors=True)
        super().close()
