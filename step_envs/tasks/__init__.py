"""Tasks: the Task model (OSWorld JSON + our extensions) and loaders."""

from step_envs.tasks.loader import builtin_tasks, load_dir, load_task, tasks_root
from step_envs.tasks.model import DIFFICULTIES, Task, TaskError
from step_envs.tasks.osworld import OSWorldTask, Reason, load_osworld
from step_envs.tasks.suites import SUITES, load_suite

__all__ = ["DIFFICULTIES", "Task", "TaskError", "builtin_tasks", "load_dir", "load_osworld", "load_suite", "load_task",
           "tasks_root", "OSWorldTask", "Reason", "SUITES"]
