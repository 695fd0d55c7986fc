"""Score one finished episode: run an OSWorld evaluator's getters and metrics, combine, and say why.

Task-level problems (a missing output file, a metric that raises, an evaluator naming an unknown metric) become a
zero :class:`Score` with a reason. Environment failures (:class:`ProviderError`) propagate: they are not task outcomes.
A checker never hangs the episode: the whole evaluation has a time budget, after which it scores 0 and says so.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from typing import Any

from step_envs.checkers.registry import (
    INFEASIBLE,
    Check,
    CheckContext,
    Score,
    get_getter,
    get_metric,
    plan_checks,
)
from step_envs.core import ProviderError

EVALUATE_TIMEOUT_S = 180.0
"""Default budget of one evaluation: getters (file transfers, commands in the env) and metrics together."""


class _Failed(Exception):
    """A getter or a metric raised; the message is the reason."""


def _missing(config: dict[str, Any]) -> str:
    """What a getter that returned None failed to find, in words."""
    if "path" in config:
        return f"{config['path']} missing"
    if "command" in config:
        return f"command {config['command']!r} could not run"
    return f"getter {config['type']!r} returned nothing"


def _get(config: dict[str, Any] | None, ctx: CheckContext, role: str) -> Any:
    if config is None:
        return None
    try:
        return get_getter(config["type"])(ctx, config)
    except ProviderError:
        raise
    except Exception as exc:
        raise _Failed(f"{role} getter {config['type']!r} failed: {type(exc).__name__}: {exc}") from exc


def measure(func: str, result: Any, expected: Any, options: dict[str, Any] | None = None) -> Score:
    """Metric ``func`` on values the getters produced, as a :class:`Score` that never raises for task-level
    problems: a metric that raises (missing, empty, corrupt or wrong-type input) scores 0 with the error as reason."""
    try:
        return _measure(func, result, expected, options or {})
    except _Failed as failure:
        return Score(0.0, str(failure))


def _measure(func: str, result: Any, expected: Any, options: dict[str, Any]) -> Score:
    try:
        raw = get_metric(func)(result, expected, **options)
        return raw if isinstance(raw, Score) else Score(float(raw), f"scored {float(raw):g}")
    except ProviderError:
        raise
    except Exception as exc:
        raise _Failed(f"{type(exc).__name__}: {exc}") from exc


def _score(check: Check, ctx: CheckContext) -> Score:
    """One metric's score, its reason prefixed with the metric's name."""
    try:
        result = _get(check.result, ctx, "result")
        expected = _get(check.expected, ctx, "expected")
        score = _measure(check.func, result, expected, check.options)
    except _Failed as failure:
        return Score(0.0, f"{check.func}: {failure}")
    if score.value == 0.0 and result is None:
        return Score(0.0, f"{check.func}: {_missing(check.result)}")
    if score.value == 0.0 and expected is None and check.expected is not None:
        return Score(0.0, f"{check.func}: expected {_missing(check.expected)}")
    return Score(score.value, f"{check.func}: {score.reason}")


def _bounded(check: Check, ctx: CheckContext, timeout: float) -> Score:
    """``_score`` in a daemon thread, abandoned at ``ctx.deadline`` (a stuck metric, a regex that backtracks for
    ever, a command that ignores its timeout): the check then scores 0. ProviderError is re-raised here."""
    answer: queue.Queue[tuple[Score | None, BaseException | None]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            answer.put((_score(check, ctx), None))
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            answer.put((None, exc))

    threading.Thread(target=run, name=f"check-{check.func}", daemon=True).start()
    try:
        score, error = answer.get(timeout=max(0.0, (ctx.deadline or 0.0) - time.monotonic()))
    except queue.Empty:
        return Score(0.0, f"{check.func}: timed out (the evaluation's {timeout:g} s budget ran out)")
    if error is not None:
        raise error
    assert score is not None
    return score


def evaluate(evaluator: dict[str, Any], ctx: CheckContext, timeout: float = EVALUATE_TIMEOUT_S) -> Score:
    """The episode's score in [0, 1] and why, with OSWorld's rules, within ``timeout`` seconds.

    A task the agent gave up on (``ctx.last_action == "FAIL"``) scores 0. Several metrics combine by ``conj``:
    ``"and"`` (default) stops at the first 0 and otherwise gives the mean; ``"or"`` stops at the first 1 and otherwise
    gives the max. ``{"func": "infeasible"}`` is not scored here: the env scores it from the last action. Getters cut
    their commands and transfers to the time left; a check still running when it is up scores 0."""
    if isinstance(evaluator, dict) and evaluator.get("func") == INFEASIBLE:
        raise ValueError("an infeasible task is scored by the env from the agent's last action, not by evaluate()")
    try:
        checks = plan_checks(evaluator)
    except ValueError as exc:
        return Score(0.0, f"invalid evaluator: {exc}")
    if ctx.last_action == "FAIL":
        return Score(0.0, "the agent answered FAIL on a feasible task")
    conj = evaluator.get("conj", "and")
    ctx = dataclasses.replace(ctx, deadline=time.monotonic() + timeout)
    scores = []
    for check in checks:
        score = _bounded(check, ctx, timeout)
        if (conj == "and" and score.value == 0.0) or (conj == "or" and score.value == 1.0):
            return score
        scores.append(score)
    values = [score.value for score in scores]
    value = sum(values) / len(values) if conj == "and" else max(values)
    return Score(value, "; ".join(score.reason for score in scores))
