"""EpisodeEnv: the episode core every Gymnasium env of step-gym shares, whatever machine it drives.

It owns the episode's state machine: the task (kept across resets; a bare template name draws the instance from
the reset's seed), the step count and budget, the end of the episode (termination, truncation, the checker run on
the last step), environment failures (``info["env_error"]``, never a task failure) and the ``info`` keys every
env reports. A kind's env subclasses it and supplies what its machine does: load a task, begin an episode
(restore, set up, observe), run one action and observe it, score the end. A desktop and an Android device differ
only there.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import TimeLimit

from step_envs.core import ProviderError, ResetError, Timings
from step_envs.tasks.model import draw_instance_seed

if TYPE_CHECKING:
    from step_envs.checkers import Score

EPISODE_OVER = "the episode is over; call reset()"
"""``info["action_error"]`` of a step after the episode ended."""


class EpisodeEnv(gym.Env[dict[str, Any], Any]):
    """One task at a time as a Gymnasium env: the episode's bookkeeping, for a subclass that drives a machine.

    ``reset(seed=..., options={"task": ...})`` seeds ``np_random``, takes the task (the option's is kept for later
    resets; a template name draws its instance with `step_envs.tasks.model.draw_instance_seed`, so equal seeds run
    equal instances), and begins the episode (:meth:`_begin`). Its ``info``: ``task_id`` and ``timings``.

    ``step(action)`` counts the step and runs it (:meth:`_act`). Its ``info``: ``action_error`` (None, or why the
    action was bad: a bad action counts as a step and never raises), ``timings``, ``task_id`` and ``step``. The
    episode ends when the action says so (terminated) or at the step limit (truncated); either way that step is
    scored (:meth:`_score`): ``info["score"]``, ``info["reason"]``, and the reward is the score (0 on every other
    step). A step after the end returns the last observation, reward 0, truncated, ``info["action_error"]``
    :data:`EPISODE_OVER`.

    One of :attr:`env_errors` raised by the machine ends the episode as ``info["env_error"]``, truncated with
    reward 0, never a task failure: from a step (``step <n> failed: ...``) or the scoring (``evaluation failed:
    ...``); from a reset (``reset failed: ...``), raised as `ResetError` when :attr:`raises_reset_errors`. The
    next reset knows the last episode failed (``after_env_error``) and may replace the machine.

    The step limit (:attr:`step_limit`) is the env's budget (:meth:`_budget`: ``max_steps``) or, when smaller,
    :attr:`episode_step_cap`, the ``N`` of ``gymnasium.make(..., max_episode_steps=N)``. Gymnasium gives ``N`` to
    the ``TimeLimit`` wrapper it puts around the env and tells the env nothing (``make`` even sets the env's own
    ``spec.max_episode_steps`` to None), so the ``TimeLimit`` would truncate step ``N`` without the checker. No
    public channel carries ``N`` down, so each reset finds it (:meth:`_time_limit`): the ``TimeLimit`` whose
    ``reset`` called this one, looked up on the call stack, its limit read from ``_max_episode_steps``
    (Gymnasium 1.x's name). The trade-off: a lookup that depends on Gymnasium's wrapper, where a constructor
    argument would be plain; but ``max_episode_steps`` then means what Gymnasium users expect, the truncating step
    scored. ``max_steps=N``, the env's own argument, needs no lookup. A subclass calls ``super().__init__`` and
    declares its spaces.
    """

    env_errors: tuple[type[BaseException], ...] = (ProviderError,)
    """What the machine raises when it fails (not the task, not the agent): the episode ends with ``env_error``."""
    raises_reset_errors: bool = True
    """A reset that fails raises `ResetError` (True), or returns the blank observation with ``info["env_error"]``."""
    episode_step_cap: int | None = None
    """``gymnasium.make(..., max_episode_steps=N)``'s N, found at each reset (:meth:`_time_limit`); None without one."""

    def __init__(self, task: Any, max_steps: int | None, render_mode: str | None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.max_steps, self.render_mode = max_steps, render_mode
        self.task: Any = None
        self._template: str | None = None
        self._set_task(task)
        self._obs: dict[str, Any] | None = None
        self._steps = 0
        self._done = True
        self._env_error: str | None = None

    # --- what a kind supplies --------------------------------------------------------------------------

    def _is_template(self, spec: Any) -> bool:
        """``spec`` names a template: each reset runs the instance the env's seed draws."""
        raise NotImplementedError

    def _load_task(self, spec: Any, seed: int | None = None) -> Any:
        """The task ``spec`` names (an id, a file, a dict, a task); for a template, its instance ``seed``."""
        raise NotImplementedError

    def _begin(self, info: dict[str, Any], *, seed: int | None, after_env_error: bool) -> dict[str, Any]:
        """Bring the machine to ``self.task``'s start (start it, or restore it: replace it if ``after_env_error``
        and it died) and return the first observation; ``seed`` is the reset's. Phases go in ``info["timings"]``."""
        raise NotImplementedError

    def _act(self, action: Any, info: dict[str, Any]) -> str | None:
        """Run ``action`` and observe its result into ``self._obs`` (an action that ends the episode may leave
        the last one). A bad action is ``info["action_error"]``. Returns the word that ends the episode (``DONE``,
        ``FAIL``, ``complete``, ...) if the action said one, else None."""
        raise NotImplementedError

    def _score(self, ending: str | None) -> Score:
        """The episode's score: ``ending`` is what :meth:`_act` returned, None when the step limit ended it."""
        raise NotImplementedError

    def _blank_obs(self) -> dict[str, Any]:
        """An observation in the observation space that stands in when the machine gave none."""
        raise NotImplementedError

    def _ended(self, info: dict[str, Any]) -> None:
        """The episode just ended, before its scoring (which may change the machine): nothing by default."""

    def _budget(self) -> int:
        """The step budget of the current episode: ``max_steps``."""
        assert self.max_steps is not None
        return self.max_steps

    # --- the episode -----------------------------------------------------------------------------------

    @property
    def step_limit(self) -> int:
        """The step that truncates the current episode, scored: the budget, or :attr:`episode_step_cap` if smaller."""
        budget = self._budget()
        return min(budget, self.episode_step_cap) if self.episode_step_cap else budget

    def _set_task(self, spec: Any) -> None:
        """The task from now on: a template name is kept, and each reset runs the instance the env's seed draws;
        anything else is loaded now (an unknown id fails here, not at the next reset)."""
        self._template = spec if spec is not None and self._is_template(spec) else None
        self.task = self._load_task(spec) if spec is not None and self._template is None else None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self.episode_step_cap = self._time_limit()
        options = options or {}
        if options.get("task") is not None:
            self._set_task(options["task"])
        if self._template is not None:
            self.task = self._load_task(self._template, draw_instance_seed(self.np_random))
        if self.task is None:
            raise ValueError("no task: pass task=... to the constructor or options={'task': ...} to reset")
        after_env_error = self._env_error is not None
        self._steps, self._done, self._env_error = 0, True, None
        info: dict[str, Any] = {"task_id": self.task.id, "timings": Timings()}
        try:
            self._obs = self._begin(info, seed=seed, after_env_error=after_env_error)
        except self.env_errors as exc:
            self._fail_env(f"reset failed: {exc}", info)
            if self.raises_reset_errors:
                raise ResetError(f"{info['env_error']} (the env is usable: fix the cause and call reset() again)",
                                 self._copy_obs(), info) from exc
            return self._copy_obs(), info
        self._done = False
        return self._copy_obs(), info

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        timings = Timings()
        info: dict[str, Any] = {"action_error": None, "timings": timings,
                                "task_id": self.task.id if self.task is not None else None}
        if self._done:
            info["action_error"] = EPISODE_OVER
            if self._env_error:
                info["env_error"] = self._env_error
            return self._copy_obs(), 0.0, False, True, info
        self._steps += 1
        info["step"] = self._steps
        try:
            ending = self._act(action, info)
        except self.env_errors as exc:
            return self._failed_step(f"step {self._steps} failed: {exc}", info)
        terminated = ending is not None
        truncated = not terminated and self._steps >= self.step_limit
        if not (terminated or truncated):
            return self._copy_obs(), 0.0, False, False, info
        self._done = True
        self._ended(info)
        t0 = time.monotonic()
        try:
            score = self._score(ending)
        except self.env_errors as exc:
            return self._failed_step(f"evaluation failed: {exc}", info)
        timings["evaluate"] = time.monotonic() - t0
        info["score"], info["reason"] = float(score.value), score.reason
        return self._copy_obs(), info["score"], terminated, truncated, info

    def _fail_env(self, message: str, info: dict[str, Any]) -> None:
        """The machine failed: the episode ends with ``message`` as its ``env_error``."""
        self._env_error = info["env_error"] = message
        self._done = True
        if self._obs is None:
            self._obs = self._blank_obs()

    def _failed_step(self, message: str, info: dict[str, Any]) -> tuple[dict, float, bool, bool, dict]:
        self._fail_env(message, info)
        return self._copy_obs(), 0.0, False, True, info

    def _copy_obs(self) -> dict[str, Any]:
        """The observation as a new dict whose arrays are the caller's own: no two calls hand out objects that
        share memory (a caller may keep or change one; the env keeps its own for the steps after the end)."""
        obs = self._obs if self._obs is not None else self._blank_obs()
        return {key: value.copy() if isinstance(value, np.ndarray) else value for key, value in obs.items()}

    def _time_limit(self) -> int | None:
        """The limit of the Gymnasium ``TimeLimit`` around this env whose ``reset`` is running now, or None: a look
        up the call stack (a few frames, no state kept), for want of a public channel (the class docstring)."""
        frame = sys._getframe(1)
        while frame is not None:
            caller = frame.f_locals.get("self")
            if isinstance(caller, TimeLimit) and caller.unwrapped is self:
                limit = getattr(caller, "_max_episode_steps", None)
                return limit if isinstance(limit, int) else None
            frame = frame.f_back
        return None

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array" and self._obs is not None:
            return self._obs["screenshot"].copy()
        return None

    def close(self) -> None:
        self._done = True
        super().close()
