"""The widget suite: MiniWoB-style tasks (click, type, tick, choose, drag, fill a form) in a small GTK 3 app that
runs inside the same desktop session, reset by restarting the app rather than the desktop.

:func:`widget_tasks` gives seeded instances of every template (``widget-click-button/3``, ...); the app itself is
:mod:`step_envs.widgets.app`, the layout and checker builder :mod:`step_envs.widgets.form`.
"""

from step_envs.widgets.tasks import WIDGET_TEMPLATES, near_miss, widget_task, widget_tasks

__all__ = ["WIDGET_TEMPLATES", "near_miss", "widget_task", "widget_tasks"]
