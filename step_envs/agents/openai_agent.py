"""`openai`: any OpenAI-compatible chat-completions endpoint with image input (vLLM, SGLang, llama.cpp, ...).

Speaks the HTTP API with `requests` (no SDK). Each turn is one request with the shared step prompt
(`agents.prompt.step_messages`: the dialect's action format, the instruction, the actions so far and the
screenshot as a base64 data URL). The reply is read by the dialect's action set; a reply it cannot read is a
no-op step with `parse_error` set. Dialects that write points in the resized image's pixels (`qwen25vl`,
`uitars15`) are rescaled with the server's resize rule (`smart_resize` with `max_pixels`). The turns of one batch are
sent concurrently, one request per environment.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from step_envs.actions import ActionSet, action_set, get_dialect, smart_resize
from step_envs.actions.frames import QWEN_MAX_PIXELS
from step_envs.agents.a11y import check_scope, parse_tagged
from step_envs.agents.prompt import (
    IMAGE_SLOT,
    Observation,
    image_data_url,
    recent,
    screenshot_image,
    step_messages,
)
from step_envs.pool.agent import AgentAction, Turn
from step_envs.tasks import Task

_RETRY_STATUS = frozenset([408, 409, 429, 500, 502, 503, 504])


class AgentError(RuntimeError):
    """The agent cannot go on (its model server is unreachable or refuses the requests): stop the run."""


class OpenAIAgent:
    """A chat-completions client. Unset arguments come from `OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_API_KEY`."""

    name = "openai"

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key: str | None = None, *,
                 temperature: float = 0.0, max_tokens: int = 512, timeout: float = 120.0, max_retries: int = 3,
                 image_format: str = "png", dialect: str | None = None, max_history: int = 10,
                 max_pixels: int = QWEN_MAX_PIXELS, observation: str = "screenshot", max_a11y_rows: int = 60,
                 a11y_scope: str = "all", a11y_tags: bool = False, concurrency: int = 16) -> None:
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL", "")).rstrip("/")
        self.model = model or os.environ.get("OPENAI_MODEL", "")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        if not self.base_url:
            raise ValueError("no endpoint: set OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1) or pass --base-url")
        if not self.model:
            raise ValueError("no model: set OPENAI_MODEL or pass --model (the name the server serves)")
        if dialect is not None:
            get_dialect(dialect)
        self.temperature, self.max_tokens, self.timeout = float(temperature), int(max_tokens), float(timeout)
        self.max_retries, self.image_format, self.dialect = int(max_retries), image_format, dialect
        self.max_history, self.max_pixels = int(max_history), int(max_pixels)
        check_scope(a11y_scope)
        self.observation = Observation.named(observation)
        self.max_a11y_rows, self.a11y_scope = int(max_a11y_rows), a11y_scope
        self.a11y_tags = bool(a11y_tags)
        self._executor = ThreadPoolExecutor(max_workers=max(1, int(concurrency)), thread_name_prefix="openai-agent")
        self._local = threading.local()

    def reset(self, task: Task, key: str) -> None:
        """Stateless: the prompt is rebuilt from the turn (instruction, history, screenshot) every step."""

    def end(self, key: str) -> None:
        """Stateless, see `reset`."""

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        return list(self._executor.map(self._act_one, turns))

    def actions(self, turn: Turn) -> ActionSet:
        """The dialect's action set on the env's action space (the dialect named like the space by default)."""
        return action_set(self.dialect or turn.action_space, turn.action_space)

    def image_size(self, turn: Turn) -> tuple[int, int] | None:
        """The size the server's processor resizes the screenshot to, for dialects that write its pixels."""
        if not self.actions(turn).needs_image_size:
            return None
        return smart_resize(*turn.screen_size, max_pixels=self.max_pixels)

    def messages(self, turn: Turn) -> list[dict[str, Any]]:
        """The chat messages of one turn: the shared step prompt with the screenshot as a data URL."""
        image = {"type": "image_url", "image_url": {"url": image_data_url(screenshot_image(turn), self.image_format)}}
        history = recent(turn.history, self.max_history)
        messages = step_messages(turn.task.instruction, history, self.actions(turn), turn.screen_size,
                                 self.image_size(turn), observation=self.observation,
                                 a11y_tree=turn.observation.get("a11y_tree"), max_a11y_rows=self.max_a11y_rows,
                                 a11y_scope=self.a11y_scope, a11y_tags=self.a11y_tags)
        messages[-1]["content"] = [image if part == IMAGE_SLOT else part for part in messages[-1]["content"]]
        return messages

    def _act_one(self, turn: Turn) -> AgentAction:
        body = {"model": self.model, "messages": self.messages(turn), "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        t0 = time.monotonic()
        data = self._post(body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return AgentAction("WAIT", raw=str(data)[:2000], parse_error="the server's reply has no "
                               "choices[0].message.content", info={"latency_s": time.monotonic() - t0})
        if isinstance(content, list):  # content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        content = content or ""
        info = {"latency_s": time.monotonic() - t0, "usage": data.get("usage")}
        tree = turn.observation.get("a11y_tree")
        if self.a11y_tags and tree is not None:  # tag_N: the centre of the table's row N
            parsed = parse_tagged(self.actions(turn), content, tree, turn.screen_size, self.image_size(turn),
                                  self.max_a11y_rows, self.a11y_scope)
        else:
            parsed = self.actions(turn).parse(content, turn.screen_size, self.image_size(turn))
        return AgentAction(parsed.action, raw=content, parse_error=parsed.error, info=info)

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /chat/completions, retrying transient failures with exponential backoff."""
        url = f"{self.base_url}/chat/completions"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            try:
                response = self._session().post(url, json=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                problem = f"cannot reach {url}: {exc}"
                continue
            if response.status_code in _RETRY_STATUS:
                problem = f"{url} answered {response.status_code}: {response.text[:300]}"
                continue
            if response.status_code != 200:
                raise AgentError(f"{url} answered {response.status_code}: {response.text[:300]} "
                                 "(check OPENAI_BASE_URL, OPENAI_MODEL and OPENAI_API_KEY)")
            try:
                return response.json()
            except ValueError:
                problem = f"{url} answered with something that is not JSON: {response.text[:200]!r}"
        raise AgentError(f"{problem} (gave up after {self.max_retries + 1} tries)")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
