"""Checkers: getters read state out of an env, metrics compare it, under OSWorld's names; one explicit registry.

Importing the package registers every getter and metric (the modules below register on import).
"""

from step_envs.checkers import (  # noqa: F401 - register their checkers
    answers,
    apps,
    archives,
    browser,
    chrome_pages,
    chrome_profile,
    chrome_urls,
    docs,
    files,
    general,
    getters,
    images,
    impress,
    media,
    relative_time,
    slides,
    structured,
    system,
    table,
    vlc,
    writer,
)
from step_envs.checkers.evaluate import evaluate
from step_envs.checkers.registry import (
    GETTERS,
    METRICS,
    CheckContext,
    Score,
    UnknownCheckerError,
    get_getter,
    get_metric,
    getter,
    metric,
    validate_evaluator,
)

__all__ = [
    "GETTERS",
    "METRICS",
    "CheckContext",
    "Score",
    "UnknownCheckerError",
    "evaluate",
    "get_getter",
    "get_metric",
    "getter",
    "metric",
    "validate_evaluator",
]
