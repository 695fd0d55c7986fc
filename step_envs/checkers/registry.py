"""One explicit registry of getters (read state out of an env) and metrics (compare it), under OSWorld's names.

An OSWorld evaluator is ``{"func", "result", "expected", "options", "conj"}``: ``func`` names a metric (or a list of
them), ``result``/``expected`` are getter configs ``{"type": getter_name, ...}`` (lists parallel to ``func``).
:func:`plan_checks` turns one into a list of :class:`Check`, naming every unknown getter or metric at load time.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from step_envs.server.client import ControllerClient

INFEASIBLE = "infeasible"  # OSWorld's func for tasks the agent must refuse: scored by the env, not by a metric
CONJUNCTIONS = ("and", "or")


class UnknownCheckerError(ValueError):
    """A task names a getter or a metric that is not registered."""


@dataclass(frozen=True)
class Score:
    """A metric's verdict: ``value`` in [0, 1] and why, in words."""

    value: float
    reason: str

    def __post_init__(self) -> None:
        if not (isinstance(self.value, int | float) and math.isfinite(self.value) and 0.0 <= self.value <= 1.0):
            raise ValueError(f"score {self.value!r} is not a number in [0, 1] ({self.reason})")


NO_RESULT = Score(0.0, "no result")


@dataclass
class CheckContext:
    """What getters read from: the env's controller, a host-side folder for fetched files, the agent's last action."""

    client: ControllerClient
    cache_dir: Path
    last_action: str | None = None
    task_dir: Path | None = None
    """The task file's folder: relative host paths (expected files shipped with the task) resolve against it."""
    deadline: float | None = None
    """``time.monotonic()`` by which the whole evaluation must be done (set by ``evaluate``); None: no limit."""

    def time_left(self, wanted: float) -> float:
        """``wanted`` seconds cut to what is left before the deadline, so a getter's command or HTTP call cannot
        outlive the evaluation; raises TimeoutError when nothing is left."""
        if self.deadline is None:
            return wanted
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the evaluation's time budget is spent")
        return min(wanted, left)


Getter = Callable[[CheckContext, dict[str, Any]], Any]
Metric = Callable[..., float | Score]
OptionCheck = Callable[[dict[str, Any]], list[str]]
GETTERS: dict[str, Getter] = {}
METRICS: dict[str, Metric] = {}
OPTION_CHECKS: dict[str, OptionCheck] = {}
"""Per metric, a function naming the options it cannot honour (e.g. a ``compare_table`` rule type not read here)."""
_F = TypeVar("_F", bound=Callable[..., Any])


def _register(table: dict[str, Any], kind: str, name: str) -> Callable[[_F], _F]:
    def add(function: _F) -> _F:
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice ({table[name].__module__} and {function.__module__})")
        table[name] = function
        return function

    return add


def getter(name: str) -> Callable[[_F], _F]:
    """Register ``function(ctx, config) -> value`` as the getter ``name`` (OSWorld's ``"type"``)."""
    return _register(GETTERS, "getter", name)


def metric(name: str, check_options: OptionCheck | None = None) -> Callable[[_F], _F]:
    """Register ``function(result, expected, **options) -> float | Score`` as the metric ``name``.

    ``check_options(options)`` lists what in a task's options the metric cannot honour, so a task asking for it is
    reported unsupported when it loads instead of scoring wrongly."""
    if check_options is not None:
        OPTION_CHECKS[name] = check_options
    return _register(METRICS, "metric", name)


def option_problems(name: str, options: dict[str, Any]) -> list[str]:
    """What metric ``name`` cannot do of ``options``: option names its signature does not take (when it takes no
    ``**options``) and whatever its ``check_options`` reports. Names starting with ``_`` are comments (JSON has no
    others; OSWorld's files write ``"_note"``): :func:`metric_options` drops them."""
    parameters = inspect.signature(get_metric(name)).parameters.values()
    problems = []
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        known = {p.name for p in parameters}
        problems += [f"option {key!r} is not supported" for key in metric_options(options) if key not in known]
    if name in OPTION_CHECKS:
        problems += OPTION_CHECKS[name](options)
    return problems


def metric_options(options: dict[str, Any]) -> dict[str, Any]:
    """A task's options for a metric without its comments (names starting with ``_``)."""
    return {key: value for key, value in options.items() if not key.startswith("_")}


def _lookup(table: dict[str, Any], kind: str, name: object) -> Any:
    if not isinstance(name, str) or name not in table:
        raise UnknownCheckerError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


def get_getter(name: str) -> Getter:
    return _lookup(GETTERS, "getter", name)


def get_metric(name: str) -> Metric:
    return _lookup(METRICS, "metric", name)


@dataclass(frozen=True)
class Check:
    """One metric of an evaluator with its getter configs and options (``expected`` may be absent)."""

    func: str
    result: dict[str, Any]
    expected: dict[str, Any] | None
    options: dict[str, Any]


def _parallel(evaluator: dict[str, Any], key: str, count: int, listed: bool) -> list[Any]:
    """The ``key`` entries, one per metric: OSWorld lists them when ``func`` is a list, else gives one."""
    value = evaluator.get(key)
    if value is None or value == [] or value == {}:
        return [None] * count
    if not listed:
        if isinstance(value, list):
            raise ValueError(f"evaluator {key!r} is a list but 'func' is a single metric")
        return [value]
    if not isinstance(value, list) or len(value) != count:
        raise ValueError(f"evaluator 'func' lists {count} metrics, so {key!r} must be a list of {count} entries")
    return value


def plan_checks(evaluator: dict[str, Any]) -> list[Check]:
    """The checks an evaluator asks for, in order. Raises :class:`UnknownCheckerError` for an unknown name and
    ValueError for a malformed evaluator (lists of different lengths, a getter config without ``type``)."""
    if not isinstance(evaluator, dict) or "func" not in evaluator:
        raise ValueError(f"an evaluator is a dict with a 'func' key, got {evaluator!r}")
    funcs = evaluator["func"]
    listed = isinstance(funcs, list)
    funcs = funcs if listed else [funcs]
    if not funcs:
        raise ValueError("evaluator 'func' is an empty list")
    if evaluator.get("conj", "and") not in CONJUNCTIONS:
        raise ValueError(f"evaluator 'conj' is {evaluator['conj']!r}; use one of {CONJUNCTIONS}")
    results = _parallel(evaluator, "result", len(funcs), listed)
    expecteds = _parallel(evaluator, "expected", len(funcs), listed)
    options = _parallel(evaluator, "options", len(funcs), listed)
    checks = []
    for func, result, expected, option in zip(funcs, results, expecteds, options, strict=True):
        get_metric(func)
        for role, config in (("result", result), ("expected", expected)):
            if config is None and role == "expected":
                continue
            if not isinstance(config, dict) or "type" not in config:
                raise ValueError(f"metric {func!r} needs a {role} getter config {{'type': ...}}, got {config!r}")
            get_getter(config["type"])
        if option is not None and not isinstance(option, dict):
            raise ValueError(f"options of metric {func!r} must be a dict, got {option!r}")
        checks.append(Check(func, result, expected, metric_options(option or {})))
    return checks


def validate_evaluator(evaluator: dict[str, Any]) -> None:
    """Check at task-load time that every metric and getter an evaluator names is registered.

    ``{"func": "infeasible"}`` is accepted as is: the env scores it from the agent's last action."""
    if isinstance(evaluator, dict) and evaluator.get("func") == INFEASIBLE:
        return
    plan_checks(evaluator)


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for a reason line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
