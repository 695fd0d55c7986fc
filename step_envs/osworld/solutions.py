"""Solutions to OSWorld's tasks, written by this project and kept apart from OSWorld's task files.

One JSON file per task, ``step_envs/data/osworld/solutions/<domain>/<task id>.json``::

    {"id": "<task id>", "domain": "os", "how": "what a person does, in one line",
     "actions": ["pyautogui.hotkey('ctrl', 'alt', 't')", "WAIT", "pyautogui.typewrite('ls\\n')"]}

``actions`` are the env's ``pyautogui`` actions (code a person's hands could do: keys, clicks, typing; or, where a
task asks for a file, code that writes it), played one step each on OSWorld's 1920x1080 screen
(:data:`step_envs.osworld.OSWORLD_SCREEN`); ``DONE`` (``FAIL`` for an infeasible task) is stepped after the last one.
``step-envs tasks audit-osworld`` runs them, and a test runs some.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SOLUTIONS_DIR = Path(__file__).resolve().parent.parent / "data" / "osworld" / "solutions"


@dataclass(frozen=True)
class Solution:
    """One task's solution: the actions before the final ``DONE`` / ``FAIL``, and how a person would put it."""

    id: str
    domain: str
    how: str
    actions: tuple[str, ...]
    path: Path


def read_solution(path: str | Path) -> Solution:
    """The solution in ``path``; ``ValueError`` naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable solution file ({error})") from error
    problems = [f"'{key}' is missing" for key in ("id", "actions") if key not in data]
    if not problems and not (isinstance(data["actions"], list) and all(isinstance(a, str) for a in data["actions"])):
        problems.append("'actions' must be a list of strings (pyautogui code, WAIT)")
    if not problems and data["id"] != path.stem:
        problems.append(f"'id' {data['id']!r} is not the file's name")
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems)}")
    return Solution(data["id"], data.get("domain", path.parent.name), data.get("how", ""),
                    tuple(data["actions"]), path)


def load_solutions(root: str | Path | None = None) -> dict[str, Solution]:
    """Every solution under ``root`` (default: the project's), by ``<domain>/<task id>`` (OSWorld reuses a few ids
    across domains)."""
    root = Path(root) if root is not None else SOLUTIONS_DIR
    return {f"{solution.domain}/{solution.id}": solution
            for solution in map(read_solution, sorted(root.glob("*/*.json")))}
