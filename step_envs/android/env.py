"""AndroidEnv: an Android device (android-env) running AndroidWorld-style tasks, as a Gymnasium environment.

``reset`` tears the previous task down, (re)starts or restores the device, and runs the task's ``initialize``;
``step`` runs one JSON action and returns the screen and the UI tree. The episode ends when the agent sends
``{"action_type": "status", "goal_status": "complete" | "infeasible"}`` (terminated) or after ``max_steps``
(truncated). The reward is 0 until then; at the end it is the task's score, and it counts only when the agent
declared completion. Bad actions are reported in ``info["action_error"]``; device failures in
``info["env_error"]``.

Screenshots and touches go through android-env (a real emulator, or its ``FakeSimulator``); actions, setup and
checks go through adb (android-env's own adb controller unless an :class:`AdbRunner` is given).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from step_envs.android.actions import (
    MAX_ACTION_CHARS,
    ActionError,
    AndroidAction,
    Gesture,
    adb_commands,
    parse_action,
    plan,
)
from step_envs.android.config import TASK_PROTO, android_env_config
from step_envs.android.tasks import AndroidTask, make_task
from step_envs.android.ui import UIElement, dump_ui, render_tree
from step_envs.checkers.registry import Score
from step_envs.episode_env import EpisodeEnv
from step_envs.providers.adb import AdbError, AdbRunner, AndroidEnvAdbRunner, command_key
from step_envs.providers.base import Provider, ProviderError
from step_envs.providers.emulator import EmulatorSettings
from step_envs.spaces import CHARSET, MAX_INSTRUCTION_CHARS, TextSpace
from step_envs.tasks.model import Task

SIMULATORS = ("emulator", "fake")
INPUT_MODES = ("adb", "touch")
MAX_UI_TREE_CHARS = 100_000
DEFAULT_SCREEN_SIZE = (1080, 2400)  # a Pixel 6, the AVD docs/android.md creates
TOUCH, LIFT = 0, 1  # android_env.components.action_type.ActionType
_log = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """The device or android-env failed (did not start, stopped answering): an env_error, never a task outcome."""


def _printable(text: str, limit: int) -> str:
    """Text the observation space accepts: characters outside its charset become '?'."""
    return "".join(char if char in CHARSET else "?" for char in text[:limit])


class AndroidEnv(EpisodeEnv):
    """An Android device running AndroidWorld-style tasks, as a Gymnasium environment.

    ## Description

    android-env drives the device (a real emulator, or its ``FakeSimulator`` for tests); the tasks
    (`step_envs.android.tasks`: 28 templates over settings, contacts, messages, files, clock, calendar) set the
    device up and read it back over adb. ``reset`` tears the previous task down, restores the device (a snapshot
    load on an emulator slot) and runs the task's ``initialize``; each ``step`` runs one JSON action and returns the
    screen and the UI tree. The device starts at the first ``reset``.

    ## Action Space

    A `TextSpace` of at most 8,192 characters: one of AndroidWorld's JSON actions (the text, or the dict):
    ``click`` / ``double_tap`` / ``long_press`` at ``x``, ``y`` or an element ``index`` of the UI tree,
    ``input_text``, ``scroll`` / ``swipe`` with a ``direction``, ``navigate_home`` / ``navigate_back`` /
    ``keyboard_enter``, ``open_app``, ``wait``, ``answer`` (the reply to a question task) and ``status`` with
    ``goal_status`` ``complete`` or ``infeasible``. Gestures go through adb or, with ``input_mode="touch"``, as
    android-env touch events. A malformed action is reported in ``info["action_error"]`` and counts as a step.

    ## Observation Space

    A ``Dict``: ``screenshot``, ``Box(0, 255, (height, width, 3), uint8)``; ``instruction``, a `TextSpace` of up
    to 4,096 characters (the task's goal); ``ui_tree``, a `TextSpace` of up to 100,000 characters, one line per
    on-screen element (``[3] Button "Save" center=(980,150) clickable``), ``""`` with ``ui_tree=False`` or when
    the dump fails (``info["ui_tree_error"]`` says why).

    ## Rewards

    0 on every step but the last. On the last, the task's score in [0, 1] when the agent declared
    ``complete`` (the task reads the device, and the ``answer`` for questions); 0 when it declared
    ``infeasible`` (every task is feasible) or ran out of steps.

    ## Starting State

    The device restored, the task's apps closed, the home screen, then the task's own start state (every toggle
    opposite to its goal). ``reset(seed=...)`` seeds the env's ``np_random``; when the task is a bare template
    name (``task="system-wifi"``), the instance is drawn from it (`step_envs.tasks.model.draw_instance_seed`):
    equal seeds run the same instance ``system-wifi/<n>``, no seed a random one. An instance id
    (``system-wifi/3``), a dict or an `AndroidTask` runs as given, whatever the seed.

    ## Episode End

    1. Termination: the agent sends ``{"action_type": "status", "goal_status": "complete" | "infeasible"}``.
    2. Truncation: the step that reaches ``max_steps`` (default: the task's own budget).
    3. Truncation: the device failed (did not start, stopped answering): ``info["env_error"]``, never a task
       failure.

    ## Arguments

    ``task``: a template name (the seed draws the instance), an instance ``<template>/<seed>``, a dict
    (``template``, ``params``, ``seed``), an `AndroidTask` or the `Task` it travels as through the pool; or
    ``reset(options={"task": ...})``. ``simulator``: ``"emulator"`` (default) or ``"fake"``; ``emulator``: an
    `EmulatorSettings` or its dict (AVD, SDK, or the ports of a running emulator); ``provider``: an
    `EmulatorProvider` that owns the emulator; ``screen_size`` (``(1080, 2400)``, must match the device);
    ``max_steps``; ``ui_tree`` (True); ``input_mode`` (``"adb"`` or ``"touch"``); ``adb``: an `AdbRunner` (default:
    android-env's adb controller); ``wait_seconds`` (what ``wait`` sleeps, 1 s); ``settle_seconds`` (0.5 s before
    each observation on an emulator); ``render_mode`` (None or ``"rgb_array"``). Details: docs/android.md.

    ```python
    env = gymnasium.make("step_envs/Android-v0", task="system-wifi", simulator="emulator",
                         emulator={"avd_name": "step_pixel"})
    obs, info = env.reset(seed=3)          # info["task_id"], info["params"]: the instance the seed drew
    ```

    ## Version History

    * v0: first version (``step_envs/Android-v0``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    env_errors = (AdbError, DeviceError, ProviderError)
    raises_reset_errors = False  # a failed reset returns the blank observation with info["env_error"]

    def __init__(self, task: AndroidTask | Task | str | dict[str, Any] | None = None, simulator: str = "emulator",
                 max_steps: int | None = None, screen_size: tuple[int, int] = DEFAULT_SCREEN_SIZE,
                 ui_tree: bool = True, input_mode: str = "adb", adb: AdbRunner | None = None,
                 emulator: EmulatorSettings | dict[str, Any] | None = None, provider: Provider | None = None,
                 wait_seconds: float = 1.0, settle_seconds: float = 0.5, render_mode: str | None = None) -> None:
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {SIMULATORS}, got {simulator!r}")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
        super().__init__(task, max_steps, render_mode)
        self.simulator, self.input_mode, self.ui_tree = simulator, input_mode, ui_tree
        self.width, self.height = screen_size
        self.wait_seconds, self.settle_seconds = wait_seconds, settle_seconds
        self.emulator = EmulatorSettings.from_value(emulator)
        self.provider = provider
        self._given_adb = adb
        self.adb: AdbRunner | None = adb
        self.android_env: Any = None

        self.observation_space = spaces.Dict({
            "screenshot": spaces.Box(0, 255, (self.height, self.width, 3), np.uint8),
            "instruction": TextSpace(MAX_INSTRUCTION_CHARS),
            "ui_tree": TextSpace(MAX_UI_TREE_CHARS),
        })
        self.action_space = TextSpace(MAX_ACTION_CHARS)
        self._elements: list[UIElement] = []
        self._answer: str | None = None
        self._set_up: AndroidTask | None = None  # the task whose initialize ran on the device, to tear down

    # --- device lifecycle ----------------------------------------------------------------------------

    def _ensure_device(self, after_env_error: bool) -> None:
        """Start android-env on first use (and the provider's emulator); afterwards restore to the snapshot."""
        if self.android_env is not None and after_env_error and (self.provider is None or not self.provider.alive()):
            self._close_device()  # reconnect (or relaunch) rather than trust a device that just failed
        if self.android_env is None:
            self._open_device()
        elif self.provider is not None:
            self.provider.restore()
        elif self.emulator.snapshot:
            self._load_snapshot(self.emulator.snapshot)

    def _open_device(self) -> None:
        settings = self.emulator
        if self.provider is not None:
            self.provider.start()
            settings = self.provider.attach_settings()  # type: ignore[attr-defined]
        if self.simulator == "emulator":
            try:
                settings.validate()
            except ValueError as exc:
                raise DeviceError(str(exc)) from exc
        from android_env import loader

        with tempfile.TemporaryDirectory(prefix="step-gym-android-") as tmp:  # android-env reads it in load()
            task_path = Path(tmp) / "task.textproto"
            task_path.write_text(TASK_PROTO)
            try:
                self.android_env = loader.load(android_env_config(self.simulator, str(task_path),
                                                                  (self.width, self.height), settings))
            except Exception as exc:  # noqa: BLE001 - android-env raises many types when a device fails to start
                raise DeviceError(f"android-env could not start the {self.simulator} device: {exc}") from exc
        height, width = self.android_env.observation_spec()["pixels"].shape[:2]
        if (width, height) != (self.width, self.height):
            self._close_device()
            raise DeviceError(f"the device screen is {width}x{height} but the env was made with screen_size="
                              f"({self.width}, {self.height}); pass screen_size=({width}, {height})")
        self.adb = self._given_adb or AndroidEnvAdbRunner(self.android_env)

    def _load_snapshot(self, name: str) -> None:
        from android_env.proto import state_pb2

        try:
            response = self.android_env.load_state(state_pb2.LoadStateRequest(args={"snapshot_name": name}))
        except NotImplementedError as exc:
            raise DeviceError(f"the {self.simulator} simulator cannot load snapshots") from exc
        if response.status != state_pb2.LoadStateResponse.Status.OK:
            raise DeviceError(f"could not load snapshot {name!r}: {response.error_message}")

    def _close_device(self) -> None:
        if self.android_env is not None:
            try:
                self.android_env.close()
            except Exception as exc:  # noqa: BLE001 - closing must go on whatever android-env raises
                _log.warning("android-env did not close cleanly: %s", exc)
            self.android_env = None
        if self.provider is not None:
            self.provider.stop()
        self.adb = self._given_adb

    # --- the episode (step_envs.episode_env.EpisodeEnv runs it) -----------------------------------------

    def _is_template(self, spec: Any) -> bool:
        return isinstance(spec, str) and "/" not in spec

    def _load_task(self, spec: AndroidTask | Task | str | dict[str, Any], seed: int | None = None) -> AndroidTask:
        return make_task(spec, seed=seed)

    def _budget(self) -> int:
        """``max_steps``, else the task's own budget."""
        assert self.task is not None
        return self.max_steps if self.max_steps is not None else self.task.max_steps

    def _begin(self, info: dict[str, Any], *, seed: int | None, after_env_error: bool) -> dict[str, Any]:
        """Tear the last task down, restore the device (start it, or reconnect if it failed), initialize, observe."""
        assert self.task is not None
        info["params"] = dict(self.task.params)
        self._answer = None
        timings = info["timings"]
        t0 = time.monotonic()
        self._tear_down()
        self._ensure_device(after_env_error)
        timestep = self.android_env.reset()
        timings["restore"] = time.monotonic() - t0
        t0 = time.monotonic()
        assert self.adb is not None
        self.task.initialize(self.adb)
        self._set_up = self.task
        timings["setup"] = time.monotonic() - t0
        t0 = time.monotonic()
        obs = self._observe(info, pixels=timestep.observation.get("pixels"))
        timings["observe"] = time.monotonic() - t0
        return obs

    def _tear_down(self) -> None:
        task, self._set_up = self._set_up, None
        if task is not None and self.adb is not None:
            task.tear_down(self.adb)

    def _blank_obs(self) -> dict[str, Any]:
        return {"screenshot": np.zeros((self.height, self.width, 3), np.uint8),
                "instruction": self.task.goal if self.task else "", "ui_tree": ""}

    def _observe(self, info: dict[str, Any], pixels: np.ndarray | None = None) -> dict[str, Any]:
        """The screen (a LIFT through android-env gives a fresh frame) and, if asked, the UI tree over adb."""
        if self.settle_seconds and self.simulator == "emulator":
            time.sleep(self.settle_seconds)
        if pixels is None:
            pixels = self._send_touch([(0.0, 0.0, False)])
        self._elements, tree = [], ""
        if self.ui_tree:
            try:
                self._elements = dump_ui(self.adb)  # type: ignore[arg-type]
                tree = render_tree(self._elements)
            except AdbError as exc:
                info["ui_tree_error"] = str(exc)
        assert self.task is not None
        return {"screenshot": np.asarray(pixels, dtype=np.uint8)[..., :3].copy(),
                "instruction": _printable(self.task.goal, MAX_INSTRUCTION_CHARS),
                "ui_tree": _printable(tree, MAX_UI_TREE_CHARS)}

    def _send_touch(self, events: list[tuple[float, float, bool]]) -> np.ndarray:
        """Send (x, y, down) events in [0, 1] screen units through android-env; returns the last frame."""
        timestep = None
        for x, y, down in events:
            timestep = self.android_env.step({"action_type": np.array(TOUCH if down else LIFT, np.int32),
                                              "touch_position": np.array([x, y], np.float32)})
        assert timestep is not None
        return timestep.observation["pixels"]

    def _touch_events(self, gesture: Gesture) -> list[tuple[float, float, bool]]:
        """A gesture as touch events: down (moving, for swipes) then up; a long press holds between them."""
        def norm(point: tuple[int, int]) -> tuple[float, float]:
            return min(point[0] / self.width, 1.0), min(point[1] / self.height, 1.0)

        (x1, y1), (x2, y2) = norm(gesture.start), norm(gesture.end)
        if gesture.kind == "swipe" and gesture.start != gesture.end:
            moves = [(x1 + (x2 - x1) * i / 10, y1 + (y2 - y1) * i / 10, True) for i in range(11)]
            return [*moves, (x2, y2, False)]
        taps = 2 if gesture.kind == "double_tap" else 1
        return [(x1, y1, True), (x1, y1, False)] * taps

    def _run(self, action: AndroidAction, info: dict[str, Any]) -> None:
        """Carry out a device action: gestures by touch or adb, the rest by adb."""
        assert self.adb is not None
        executed: list[str] = []
        info["adb_commands"] = executed
        for step in plan(action, self._elements, (self.width, self.height)):
            if isinstance(step, Gesture) and self.input_mode == "touch":
                events = self._touch_events(step)
                if step.kind == "long_press":
                    self._send_touch(events[:1])
                    time.sleep(step.duration_ms / 1000)
                    events = events[1:]
                self._send_touch(events)
                continue
            for command in adb_commands([step]):
                executed.append(command_key(command))
                self.adb.run(command)

    def _act(self, action: Any, info: dict[str, Any]) -> str | None:
        """Run one JSON action; observe unless it was ``status`` (the last screen stands)."""
        timings = info["timings"]
        t0 = time.monotonic()
        parsed: AndroidAction | None = None
        try:
            parsed = parse_action(action)
            if parsed.action_type == "answer":
                self._answer = parsed.text
            elif parsed.action_type == "wait":
                time.sleep(self.wait_seconds)
            elif parsed.action_type != "status":
                self._run(parsed, info)
        except (ActionError, AdbError) as exc:
            info["action_error"] = str(exc)
        timings["action"] = time.monotonic() - t0
        if self._answer is not None:
            info["answer"] = self._answer
        if parsed is not None and parsed.action_type == "status":
            return parsed.goal_status
        t0 = time.monotonic()
        self._obs = self._observe(info)
        timings["observe"] = time.monotonic() - t0
        return None

    def _score(self, ending: str | None) -> Score:
        """Success counts only when the agent declared completion; then the task reads the device."""
        assert self.task is not None and self.adb is not None
        if ending is None:
            return Score(0.0, f"the agent did not declare completion within {self.step_limit} steps")
        if ending == "infeasible":
            return Score(0.0, "the agent declared the task infeasible; it is feasible")
        return self.task.is_successful(self.adb, self._answer)

    def close(self) -> None:
        try:
            self._tear_down()
        except (AdbError, DeviceError, ProviderError) as exc:
            _log.warning("tear_down of %s failed: %s", self.task.id if self.task else "?", exc)
        self._close_device()
        super().close()
