"""Getters: read a piece of an env's state (or of the task's data) for a metric, with OSWorld's names and configs,
one module per kind of thing read (the map is in :mod:`step_envs.checkers`).

Importing the package registers every getter.
"""

from step_envs.checkers.getters import (  # noqa: F401 - register their getters
    app_state,
    chrome_pages,
    chrome_profile,
    chrome_tabs,
    env_files,
    rules,
    slide_media,
    vm_state,
)
