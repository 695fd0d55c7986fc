"""Collecting a round of episodes from an `EnvPool` with the policy, keeping the screenshots the steps were taken on.

The pool's `on_step` hands over each observation with its step record; the store keeps the screenshot as the
model saw it (downscaled) under the record's `observation_ref`, which is what the step samples point to. Images of
episodes that can still yield samples later (the augmentation's success buffer) survive `retain`; they are saved
as lossless PNGs, each once under its content hash, so a resumed run sees the same pixels and a checkpoint only
writes the screenshots that are new since the last one.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from step_envs.episodes import Episode, StepRecord


def content_hash(image: Image.Image) -> str:
    """sha1 of the image's mode, size and pixels: equal for equal screenshots, whatever their ref or PNG encoding."""
    digest = hashlib.sha1(f"{image.mode} {image.width}x{image.height}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class ObservationStore:
    """Screenshots by observation ref, as the model sees them, saved content-addressed in `directory`.

    `save(refs)` writes each screenshot of `refs` once, as `directory/<content_hash>.png` (to a temporary name, then
    renamed: a file under its final name is complete), and returns the index ref -> hash that a checkpoint keeps;
    the same screen reached in several episodes (a task's start screen) is one file. `load(index)` reads them back.
    """

    def __init__(self, observe: Callable[[Any], Image.Image], directory: Path) -> None:
        self.observe = observe
        self.directory = directory
        self._images: dict[str, Image.Image] = {}
        self._hashes: dict[str, str] = {}
        self.scope = ""
        """Put before every ref kept: the trainer sets `round-000003/`, since the pool's episode keys (task, seed,
        request index, attempt) repeat from round to round and a buffered episode must keep its own screenshots."""

    def keep(self, key: str, step_index: int, observation: dict[str, Any], record: StepRecord) -> None:
        """The pool's `on_step` callback: the screenshot under `scope + record.observation_ref` (which it sets)."""
        ref = self.scope + (record.observation_ref or f"{key}/step{step_index}")
        record.observation_ref = ref
        record.a11y_tree = observation.get("a11y_tree")
        self._images[ref] = self.observe(observation["screenshot"])
        self._hashes.pop(ref, None)

    def __getitem__(self, ref: str) -> Image.Image:
        try:
            return self._images[ref]
        except KeyError:
            raise KeyError(f"no screenshot kept for {ref!r}; was the episode collected with the store's on_step?") from None

    def __len__(self) -> int:
        return len(self._images)

    def retain(self, episodes: Iterable[Episode]) -> None:
        """Drop every image not referenced by a step of `episodes`."""
        refs = {step.observation_ref for episode in episodes for step in episode.steps}
        self._images = {ref: image for ref, image in self._images.items() if ref in refs}
        self._hashes = {ref: digest for ref, digest in self._hashes.items() if ref in refs}

    def save(self, refs: Iterable[str]) -> dict[str, str]:
        """Write the screenshots of `refs` that `directory` does not hold yet; the index ref -> content hash."""
        self.directory.mkdir(parents=True, exist_ok=True)
        index = {}
        for ref in sorted(set(refs)):
            digest = self._hashes.get(ref) or content_hash(self[ref])
            self._hashes[ref] = digest
            path = self.directory / f"{digest}.png"
            if not path.is_file():
                partial = path.with_suffix(".png.tmp")
                self[ref].save(partial, format="PNG")
                partial.replace(path)
            index[ref] = digest
        return index

    def load(self, index: Mapping[str, str]) -> None:
        """The screenshots of a checkpoint's index (ref -> content hash), each file read once."""
        by_hash: dict[str, Image.Image] = {}
        for ref, digest in index.items():
            if digest not in by_hash:
                path = self.directory / f"{digest}.png"
                if not path.is_file():
                    raise FileNotFoundError(f"{path} is missing: the checkpoint's screenshot of {ref!r} was deleted "
                                            f"from {self.directory}; resume from a complete run directory")
                with Image.open(io.BytesIO(path.read_bytes())) as image:
                    by_hash[digest] = image.convert("RGB")
            self._images[ref] = by_hash[digest]
            self._hashes[ref] = digest


@dataclass
class RoundRollouts:
    """One round's episodes with where the time went."""

    episodes: list[Episode]
    wall_seconds: float
    model_seconds: float
    generated_tokens: int
    prompts_reused: int = 0
    """Prompts whose prefill the policy's prompt cache answered (`sampling.prompt_cache_mb`)."""
    env_errors: int = 0
    retries: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def env_seconds(self) -> float:
        """Time the envs kept the round going while the policy was not computing (reset, act, screenshot, check)."""
        return max(0.0, self.wall_seconds - self.model_seconds)


class TimedAgent:
    """Wraps the policy to measure the time spent in `act` (model time) and the tokens it generated."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.name = policy.name
        self.seconds = 0.0

    def reset(self, task: Any, key: str) -> None:
        self.policy.reset(task, key)

    def end(self, key: str) -> None:
        self.policy.end(key)

    def act(self, turns: list[Any]) -> list[Any]:
        start = time.perf_counter()
        try:
            return self.policy.act(turns)
        finally:
            self.seconds += time.perf_counter() - start


def collect(
    pool: Any,
    policy: Any,
    requests: Sequence[Any],
    store: ObservationStore,
    *,
    max_steps: int | None = None,
    on_episode: Callable[[Episode], None] | None = None,
) -> RoundRollouts:
    """Run one episode per request on the pool with the policy; screenshots go to `store`."""
    agent = TimedAgent(policy)
    tokens_before = policy.generated_tokens
    reused_before = getattr(policy, "prompts_reused", 0)
    start = time.perf_counter()
    episodes = pool.run_episodes(agent, list(requests), max_steps=max_steps, on_episode=on_episode,
                                 on_step=store.keep)
    wall = time.perf_counter() - start
    return RoundRollouts(
        episodes=episodes,
        wall_seconds=wall,
        model_seconds=agent.seconds,
        generated_tokens=policy.generated_tokens - tokens_before,
        prompts_reused=getattr(policy, "prompts_reused", 0) - reused_before,
        env_errors=sum(1 for e in episodes if e.env_error),
        retries=sum(max(0, int(e.info.get("attempts", 1)) - 1) for e in episodes),
    )
