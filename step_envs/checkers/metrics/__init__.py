"""Metrics: compare what getters read with what a task expects, with OSWorld's names and rules, one module per way
of comparing (the map is in :mod:`step_envs.checkers`).

Importing the package registers every metric.
"""

from step_envs.checkers.metrics import (  # noqa: F401 - register their metrics
    app_settings,
    archives,
    browser,
    document_checks,
    documents,
    images,
    media,
    os_state,
    slide_checks,
    slides,
    structured,
    table,
    text,
    values,
)
