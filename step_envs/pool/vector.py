"""A Gymnasium `VectorEnv` over an `EnvPool`, with Gymnasium 1.x autoreset semantics.

``gymnasium.make_vec("step_envs/Desktop-v0", num_envs=4, task="os-create-folder")`` (or any
``step_envs/<task-id>-v0``) builds one: every id this package registers has this class as its
``vector_entry_point``. Or construct it directly: ``DesktopVectorEnv(4, tasks=[...], provider="docker")``.

Autoreset (``autoreset_mode``, default ``NEXT_STEP`` as in Gymnasium): an env whose episode ended is reset on
the next `step` call, which ignores its action and returns the first observation of the new episode with
reward 0. ``SAME_STEP`` resets within the step that ended the episode and puts the last observation and info in
``info["final_obs"]`` / ``info["final_info"]``; ``DISABLED`` leaves it to ``reset(options={"reset_mask": m})``.
All sub-envs step in parallel on the pool; a reset uses the next task of ``tasks`` (round robin).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from step_envs.pool.pool import EnvPool
from step_envs.pool.slot import Ready
from step_envs.tasks import Task, load_task

POOL_OPTIONS = ("max_retries", "hard_timeout", "health_interval", "unhealthy_after", "abandon_after",
                "start_concurrency", "start_attempts", "node_provider", "ray_options", "ray_address")


class DesktopVectorEnv(VectorEnv):
    """``num_envs`` `DesktopEnv` envs stepped in parallel on an `EnvPool`, as a Gymnasium `VectorEnv`.

    ## Description

    What ``gymnasium.make_vec("step_envs/Desktop-v0", num_envs=N, vectorization_mode="vector_entry_point",
    task=...)`` builds, for every id this package registers. Each sub-env is a desktop on the pool's provider
    (``local``, ``docker`` or ``ray``); ``step`` sends every action at once and waits for all the results, so the
    slowest env sets the pace. An env that dies is replaced by the pool and its episode ends with
    ``env_error``. Resets take the tasks round robin.

    ## Action Space

    ``batch_space`` of `DesktopEnv`'s: a tuple of ``num_envs`` actions (pyautogui code or a control action; with
    ``action_space="computer_13"``, structured actions), one per sub-env.

    ## Observation Space

    ``batch_space`` of `DesktopEnv`'s ``Dict``: ``screenshot`` stacked to ``(num_envs, height, width, 3)``,
    ``instruction`` (and ``a11y_tree``) as tuples of ``num_envs`` strings. ``info`` is Gymnasium's vector info: each
    key an array over the envs with a ``_key`` mask of the envs that set it.

    ## Rewards

    Per env, as `DesktopEnv`: 0 until an episode ends, then the checker's score in [0, 1]; 0 on the step that
    autoresets an env.

    ## Starting State

    ``reset(seed=s)`` resets env ``i`` with seed ``s + i`` (a list gives one seed per env), which seeds its
    ``np_random`` as `DesktopEnv` does; the tasks are instances (``task`` / ``tasks`` are loaded when the vector env
    is made), so the seed never changes which one runs. ``options={"task": ...}`` resets onto that task,
    ``options={"reset_mask": m}`` only the envs in ``m``.

    ## Episode End

    Per env, as `DesktopEnv` (``DONE`` / ``FAIL`` terminate, ``max_steps`` or an ``env_error`` truncates), then
    autoreset by ``autoreset_mode``: ``NEXT_STEP`` (default, as in Gymnasium) resets it on the next ``step``, which
    ignores its action; ``SAME_STEP`` resets it within the step that ended the episode and puts the last
    observation and info in ``info["final_obs"]`` / ``info["final_info"]``; ``DISABLED`` leaves it to
    ``reset(options={"reset_mask": m})``.

    ## Arguments

    ``num_envs``; ``task`` (one for every env) or ``tasks`` (cycled through): ids, paths or `Task` objects;
    ``provider`` (``"local"``) and ``provider_kwargs``; ``autoreset_mode``; ``copy`` (True: ``step`` returns
    copies of the batched observations); ``pool_kwargs``: `EnvPool` options (``max_retries``, ``hard_timeout``,
    ``health_interval``, ``unhealthy_after``, ``abandon_after``, ``start_concurrency``, ``start_attempts``,
    ``node_provider``, ``ray_options``, ``ray_address``; another name is an error); every other keyword is a
    `DesktopEnv` option. ``max_episode_steps`` (what ``make_vec(..., max_episode_steps=N)`` passes) sets every
    env's ``max_steps``, so the truncating step runs the checker. Details: docs/pool.md.

    ```python
    envs = gymnasium.make_vec("step_envs/Desktop-v0", num_envs=4, vectorization_mode="vector_entry_point",
                              task="os-create-folder", max_episode_steps=10)
    obs, infos = envs.reset(seed=0)        # obs["screenshot"].shape == (4, 720, 1280, 3)
    ```

    ## Version History

    * v0: first version (the ``vector_entry_point`` of every ``step_envs`` desktop id).
    """

    def __init__(self, num_envs: int, task: Task | str | None = None, *, tasks: list[Task | str] | None = None,
                 provider: str = "local", provider_kwargs: dict[str, Any] | None = None,
                 autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP, copy: bool = True,
                 pool_kwargs: dict[str, Any] | None = None, **env_kwargs: Any) -> None:
        """``task`` (one for every env) or ``tasks`` (cycled through); the remaining keyword arguments are
        `DesktopEnv` options; ``pool_kwargs`` go to `EnvPool` (``hard_timeout``, ``ray_address``, ...; another
        name is an error). ``max_episode_steps`` (what ``gymnasium.make_vec(..., max_episode_steps=N)`` passes)
        sets every env's ``max_steps``, so the step that reaches it truncates the episode and runs the checker."""
        from step_envs.desktop.env import DesktopEnv

        if (task is None) == (tasks is None):
            raise ValueError("pass exactly one of task=... (every env) or tasks=[...] (cycled)")
        self._tasks = [load_task(t) for t in ([task] if task is not None else tasks or [])]
        if not self._tasks:
            raise ValueError("tasks=[] is empty")
        unknown = sorted(set(pool_kwargs or {}) - set(POOL_OPTIONS))
        if unknown:
            raise ValueError(f"unknown pool_kwargs {unknown}; known: {', '.join(POOL_OPTIONS)}")
        limit = env_kwargs.pop("max_episode_steps", None)
        if limit is not None:
            if int(limit) < 1:
                raise ValueError(f"max_episode_steps must be >= 1, got {limit}")
            env_kwargs["max_steps"] = min(int(limit), int(env_kwargs.get("max_steps", limit)))
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.copy = copy
        spec_env = DesktopEnv(task=self._tasks[0], **env_kwargs)  # declares the spaces; never started
        self.single_observation_space = spec_env.observation_space
        self.single_action_space = spec_env.action_space
        self.metadata = {**spec_env.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = spec_env.render_mode
        spec_env.close()
        self.num_envs = num_envs
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.pool = EnvPool(num_envs, provider, env_kwargs=env_kwargs, provider_kwargs=provider_kwargs,
                            **(pool_kwargs or {}))
        self._next_task = 0
        self._observations = create_empty_array(self.single_observation_space, n=num_envs, fn=np.zeros)
        self._env_obs: list[Any] = [None] * num_envs
        self._autoreset = np.zeros(num_envs, np.bool_)

    def _draw_task(self) -> Task:
        task = self._tasks[self._next_task % len(self._tasks)]
        self._next_task += 1
        return task

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every env (or those in ``options["reset_mask"]``); ``options["task"]`` overrides the task."""
        options = dict(options or {})
        seeds = ([None] * self.num_envs if seed is None else [seed + i for i in range(self.num_envs)]
                 if isinstance(seed, int) else list(seed))
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed list has {len(seeds)} entries for {self.num_envs} envs")
        mask = options.pop("reset_mask", np.ones(self.num_envs, np.bool_))
        if not isinstance(mask, np.ndarray) or mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
            raise TypeError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},)")
        override = load_task(options["task"]) if options.get("task") is not None else None
        indices = [int(i) for i in np.flatnonzero(mask)]
        for i in indices:
            self.pool.send_reset(i, override or self._draw_task(), seed=seeds[i])
        infos: dict[str, Any] = {}
        for ready in self.pool.gather(indices):
            self._env_obs[ready.env_index] = ready.observation
            self._autoreset[ready.env_index] = False
            infos = self._add_info(infos, ready.info, ready.env_index)
        return self._batch(), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"step needs one action per env ({self.num_envs}), got {len(actions)}")
        rewards = np.zeros(self.num_envs, np.float64)
        terminated = np.zeros(self.num_envs, np.bool_)
        truncated = np.zeros(self.num_envs, np.bool_)
        for i, action in enumerate(actions):
            if self._autoreset[i] and self.autoreset_mode != AutoresetMode.DISABLED:
                self.pool.send_reset(i, self._draw_task())  # SAME_STEP only lands here after a failed reset
                self._autoreset[i] = False
            elif self._autoreset[i]:
                raise RuntimeError(f"env {i} finished its episode; with autoreset DISABLED reset it "
                                   "(options={'reset_mask': ...}) before stepping it again")
            else:
                self.pool.send(i, action)
        infos: dict[str, Any] = {}
        finished: list[Ready] = []
        for ready in self.pool.gather(range(self.num_envs)):
            i = ready.env_index
            self._env_obs[i] = ready.observation
            rewards[i], terminated[i], truncated[i] = ready.reward, ready.terminated, ready.truncated
            if ready.terminated or ready.truncated:
                finished.append(ready)
            else:
                infos = self._add_info(infos, ready.info, i)
        if self.autoreset_mode == AutoresetMode.SAME_STEP and finished:
            for ready in finished:
                self.pool.send_reset(ready.env_index, self._draw_task())
            for ready, fresh in zip(finished, self.pool.gather([r.env_index for r in finished]), strict=True):
                final = {"final_obs": ready.observation, "final_info": ready.info}
                infos = self._add_info(self._add_info(infos, final, fresh.env_index), fresh.info, fresh.env_index)
                self._env_obs[fresh.env_index] = fresh.observation
                self._autoreset[fresh.env_index] = bool(fresh.truncated)
        else:
            for ready in finished:
                infos = self._add_info(infos, ready.info, ready.env_index)
                self._autoreset[ready.env_index] = True
        return self._batch(), rewards, terminated, truncated, infos

    def _batch(self) -> Any:
        self._observations = concatenate(self.single_observation_space, self._env_obs, self._observations)
        return deepcopy(self._observations) if self.copy else self._observations

    def close_extras(self, **kwargs: Any) -> None:
        self.pool.close()
